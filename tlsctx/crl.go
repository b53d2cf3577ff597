package tlsctx

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"hash/maphash"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"time"
)

// ErrRevoked is wrapped by the error a handshake (or Snapshot.CheckRevoked)
// returns for a client certificate that a CRL of the channel revokes.
var ErrRevoked = errors.New("certificate revoked")

// CRL staleness policies (Settings.CRLStale).
const (
	// CRLStaleWarn, the default, applies a CRL past its nextUpdate and
	// says so in a warning at every reload (and in the metrics).
	CRLStaleWarn = "warn"
	// CRLStaleReject refuses a reload that would apply such a CRL.
	CRLStaleReject = "reject"
)

// CRLInfo describes one certificate revocation list a snapshot applies.
type CRLInfo struct {
	Setting    string // ssl_crl, ssl_crlpath or their cluster_ counterparts
	File       string
	Issuer     string // the CA that signed it (RFC 2253 style)
	Number     string // the cRLNumber extension, "" when absent
	ThisUpdate time.Time
	NextUpdate time.Time // zero when the CRL has none
	Revoked    int       // entries
}

// Stale reports whether the CRL is past its nextUpdate at now.
func (c CRLInfo) Stale(now time.Time) bool {
	return !c.NextUpdate.IsZero() && now.After(c.NextUpdate)
}

// revKey is one revoked certificate: the index of its issuer in
// crlSet.issuers and its serial number.
type revKey struct {
	issuer uint32
	serial serialKey
}

// revEntry is where a revocation was read and when it took effect.
type revEntry struct {
	crl       uint32 // index in crlSet.crls
	revokedAt int64  // Unix seconds
}

// crlSet is the revocation data of one channel, built at load: a lookup
// by issuer and serial costs one map access per certificate, whatever the
// size of the CRLs.
type crlSet struct {
	crls    []CRLInfo
	issuers map[string]uint32 // raw issuer name -> index
	revoked *revTable
}

// lookup returns the revocation of c, if any.
func (s *crlSet) lookup(c *x509.Certificate) (revEntry, bool) {
	if s == nil || s.revoked.len() == 0 {
		return revEntry{}, false
	}
	i, ok := s.issuers[string(c.RawIssuer)]
	if !ok {
		return revEntry{}, false
	}
	return s.revoked.get(revKey{issuer: i, serial: serialKeyOf(c)})
}

// revTable is the set of revoked certificates of a crlSet, compact for
// CRLs of millions of serials: a Go map from a 64-bit hash of the key to
// the first record with that hash, and the records in one slice, those
// that share a hash chained. A record is 48 bytes and a map slot about 20,
// where a map keyed by revKey itself took about 110 bytes a revocation.
// Lookups stay one map access (plus a record compare) per certificate.
type revTable struct {
	seed  maphash.Seed
	heads map[uint64]uint32 // hash -> 1 + index in recs of the first record
	recs  []revRecord
	hash  func(revKey) uint64 // nil: maphash with seed; a test's seam to force collisions
}

type revRecord struct {
	key  revKey
	next uint32 // 1 + index in recs of the next record with the same hash; 0: none
	revEntry
}

func newRevTable(n int) *revTable {
	return &revTable{seed: maphash.MakeSeed(), heads: make(map[uint64]uint32, n), recs: make([]revRecord, 0, n)}
}

func (t *revTable) len() int {
	if t == nil {
		return 0
	}
	return len(t.recs)
}

// get returns the revocation recorded for k.
func (t *revTable) get(k revKey) (revEntry, bool) {
	for i := t.heads[t.hashOf(k)]; i != 0; i = t.recs[i-1].next {
		if r := &t.recs[i-1]; r.key == k {
			return r.revEntry, true
		}
	}
	return revEntry{}, false
}

func (t *revTable) hashOf(k revKey) uint64 {
	if t.hash != nil {
		return t.hash(k)
	}
	return maphash.Comparable(t.seed, k)
}

// add records e for k unless k is recorded already (the first CRL that
// lists a serial is the one named); it reports whether it added.
func (t *revTable) add(k revKey, e revEntry) bool {
	h := t.hashOf(k)
	head := t.heads[h]
	for i := head; i != 0; i = t.recs[i-1].next {
		if t.recs[i-1].key == k {
			return false
		}
	}
	t.recs = append(t.recs, revRecord{key: k, next: head, revEntry: e})
	t.heads[h] = uint32(len(t.recs))
	return true
}

// CRLs lists the CRLs the snapshot applies, in the order they were read.
func (s *Snapshot) CRLs() []CRLInfo {
	if s == nil || s.crls == nil {
		return nil
	}
	return append([]CRLInfo(nil), s.crls.crls...)
}

// CRLNextUpdate is the earliest nextUpdate among the snapshot's CRLs;
// false when it applies none that has one.
func (s *Snapshot) CRLNextUpdate() (time.Time, bool) {
	var out time.Time
	for _, c := range s.CRLs() {
		if !c.NextUpdate.IsZero() && (out.IsZero() || c.NextUpdate.Before(out)) {
			out = c.NextUpdate
		}
	}
	return out, !out.IsZero()
}

// CheckRevoked returns an error wrapping ErrRevoked when a certificate of
// chain (the peer's certificate first, then its intermediates; a trust
// anchor at the end is not looked up) is revoked by one of the snapshot's
// CRLs, naming the certificate, the serial and the CRL file; nil
// otherwise. Safe for concurrent use; it takes no lock.
func (s *Snapshot) CheckRevoked(chain []*x509.Certificate) error {
	if s == nil || s.crls == nil {
		return nil
	}
	for i, c := range chain {
		if i > 0 && i == len(chain)-1 && bytes.Equal(c.RawIssuer, c.RawSubject) {
			break // a self-signed root: trusted by configuration, not by a CRL
		}
		e, ok := s.crls.lookup(c)
		if !ok {
			continue
		}
		what := "client certificate"
		if i > 0 {
			what = "intermediate certificate"
		}
		crl := s.crls.crls[e.crl]
		return fmt.Errorf("tlsctx: %w: %s %q (serial %s) issued by %q was revoked at %s (%s %q)", ErrRevoked, what,
			c.Subject.String(), FormatSerial(c.SerialNumber), c.Issuer.String(),
			time.Unix(e.revokedAt, 0).UTC().Format(time.RFC3339), crl.Setting, crl.File)
	}
	return nil
}

// checkChains is CheckRevoked over the chains crypto/tls verified: the
// peer passes when at least one chain holds no revoked certificate (a
// revoked leaf is in every chain).
func (s *Snapshot) checkChains(chains [][]*x509.Certificate) error {
	var first error
	for _, chain := range chains {
		err := s.CheckRevoked(chain)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// parseCRLs reads every CRL in data: PEM ("X509 CRL" blocks, several
// allowed) or one DER CRL.
func parseCRLs(data []byte) ([]*derCRL, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, reasonError("file is empty")
	}
	if data[0] == 0x30 { // DER: an ASN.1 SEQUENCE
		crl, err := parseCRLDER(data)
		if err != nil {
			return nil, reasonError(fmt.Sprintf("not a CRL (DER that does not parse as one: %v)", err))
		}
		return []*derCRL{crl}, nil
	}
	blocks, err := pemBlocks(data)
	if err != nil {
		return nil, err
	}
	var out []*derCRL
	for _, b := range blocks {
		if b.Type != "X509 CRL" {
			continue
		}
		crl, err := parseCRLDER(b.Bytes)
		if err != nil {
			return nil, reasonError(fmt.Sprintf("CRL #%d does not parse: %v", len(out)+1, err))
		}
		out = append(out, crl)
	}
	if len(out) == 0 {
		return nil, reasonError("no X509 CRL PEM block found")
	}
	return out, nil
}

// onlyCertificates reports whether data is PEM holding certificates and
// no CRL: a CA file in a folder shared with ssl_capath (c_rehash writes
// both kinds of links into one folder).
func onlyCertificates(data []byte) bool {
	rest, certs := data, 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return certs > 0
		}
		if b.Type == "X509 CRL" {
			return false
		}
		if b.Type == "CERTIFICATE" {
			certs++
		}
	}
}

// sourcedCRL is a parsed CRL with the setting and file it was read from.
type sourcedCRL struct {
	crl           *derCRL
	setting, file string
}

// loadCRLs reads the CRLs of channel material m (ssl_crl, ssl_crlpath or
// their cluster_ counterparts), checks each against the channel's CA set
// (cas), and builds the lookup. A CRL that does not parse, whose issuer is
// not in the CA set or whose signature does not verify refuses the load;
// so does a stale one under CRLStaleReject. Inherited CRLs (the cluster
// channel falling back to ssl_crl* while it has its own CA set) that were
// issued by a CA outside that set are left out: they cannot revoke a
// certificate the set trusts. h receives the bytes read, for the digest.
func (b *builder) loadCRLs(ch Channel, m material, cas []sourcedCert, policy string, h interface{ Write([]byte) (int, error) }) (*crlSet, []string, error) {
	if !m.hasCRL() {
		return nil, nil, nil
	}
	// The cluster channel falling back to ssl_crl with the client
	// channel's CA set would read and index the same CRLs again: a CRL of
	// a million serials is about 100 MiB of lookup table. Such a channel
	// shares the one built in this pass.
	key := crlCacheKey(m, cas, policy)
	if c, ok := b.crls[key]; ok {
		h.Write(c.digest[:])
		warnings := make([]string, len(c.warnings))
		for i, w := range c.warnings {
			warnings[i] = strings.Replace(w, "channel "+string(c.ch)+": ", "channel "+string(ch)+": ", 1)
		}
		return c.set, warnings, nil
	}
	outer := h
	sub := sha256.New()
	h = sub
	set, warnings, err := b.readCRLs(ch, m, cas, policy, h)
	var digest [32]byte
	copy(digest[:], sub.Sum(nil))
	outer.Write(digest[:])
	if err == nil {
		if b.crls == nil {
			b.crls = map[[32]byte]*crlCache{}
		}
		b.crls[key] = &crlCache{ch: ch, set: set, warnings: warnings, digest: digest}
		if set.revoked.len() >= largeCRLEntries {
			b.largeCRL = true
		}
	}
	return set, warnings, err
}

// largeCRLEntries is the size of CRL set past which a pass returns freed
// memory to the system when it ends (builder.releaseMemory): reading a CRL
// of a million serials leaves some 80 MB of file bytes and parse buffers
// freed but resident, for as long as the heap does not need them.
const largeCRLEntries = 100_000

// releaseMemory returns the memory freed by a pass that read large CRLs
// to the system (debug.FreeOSMemory: a collection and a scavenge, tens of
// milliseconds), so that the resident size after the reload is the lookup
// table, not the files it was built from.
func (b *builder) releaseMemory() {
	if b.largeCRL {
		debug.FreeOSMemory()
	}
}

// crlCache is one channel's CRLs as a pass built them (builder.crls).
type crlCache struct {
	ch       Channel
	set      *crlSet
	warnings []string
	digest   [32]byte
}

// crlCacheKey identifies what loadCRLs builds from: the CRL settings and
// paths, the CA set they are checked against, the policy.
func crlCacheKey(m material, cas []sourcedCert, policy string) [32]byte {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%t\x00%s\x00", m.crl, m.crlpath, m.crlSetting, m.crlpathSetting, m.crlInherited, policy)
	for _, c := range cas {
		sum := sha256.Sum256(c.cert.Raw)
		h.Write(sum[:])
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// readCRLs is loadCRLs without the sharing.
func (b *builder) readCRLs(ch Channel, m material, cas []sourcedCert, policy string, h interface{ Write([]byte) (int, error) }) (*crlSet, []string, error) {
	var warnings []string
	var all []sourcedCRL
	if m.crl != "" {
		data, _, err := b.readFile(m.crl, maxCRLSize)
		if err != nil {
			return nil, nil, &ReloadError{Channel: ch, Setting: m.crlSetting, File: m.crl, Reason: crlFileReason(err), Err: err}
		}
		crls, err := parseCRLs(data)
		if err != nil {
			return nil, nil, &ReloadError{Channel: ch, Setting: m.crlSetting, File: m.crl, Reason: err.Error(), Err: err}
		}
		h.Write(data)
		h.Write([]byte{0})
		for _, c := range crls {
			all = append(all, sourcedCRL{crl: c, setting: m.crlSetting, file: m.crl})
		}
	}
	if m.crlpath != "" {
		found, ws, err := b.scanCRLPath(ch, m, h)
		if err != nil {
			return nil, nil, err
		}
		all = append(all, found...)
		warnings = append(warnings, ws...)
	}
	if len(cas) == 0 && !m.crlInherited {
		return nil, nil, &ReloadError{Channel: ch, Setting: m.crlSettingUsed(), File: m.crlFileUsed(),
			Reason: fmt.Sprintf("a CRL is set but the channel has no CA set (%s / %s) to check it against; no client certificate is asked for", m.caSetting, m.capathSetting)}
	}
	bySubject := map[string][]*x509.Certificate{}
	for _, c := range cas {
		bySubject[string(c.cert.RawSubject)] = append(bySubject[string(c.cert.RawSubject)], c.cert)
	}
	now := b.now()
	total := 0
	for _, sc := range all {
		total += sc.crl.count
	}
	set := &crlSet{issuers: map[string]uint32{}, revoked: newRevTable(total)}
	for _, sc := range all {
		fail := func(reason string) error {
			return &ReloadError{Channel: ch, Setting: sc.setting, File: sc.file, Reason: reason}
		}
		issuer := sc.crl.rl.Issuer.String()
		cands := bySubject[string(sc.crl.rl.RawIssuer)]
		if len(cands) == 0 {
			if m.crlInherited {
				continue
			}
			return nil, nil, fail(fmt.Sprintf("CRL issuer %q is not in the channel's CA set (%s): a CRL is accepted only from a CA the channel trusts", issuer, caDesc(m)))
		}
		var sigErr error
		for _, ca := range cands {
			if sigErr = sc.crl.rl.CheckSignatureFrom(ca); sigErr == nil {
				break
			}
		}
		if sigErr != nil {
			return nil, nil, fail(fmt.Sprintf("CRL signature does not verify against CA %q (%s): %v", issuer, caDesc(m), sigErr))
		}
		info := CRLInfo{Setting: sc.setting, File: sc.file, Issuer: issuer, ThisUpdate: sc.crl.rl.ThisUpdate,
			NextUpdate: sc.crl.rl.NextUpdate, Revoked: sc.crl.count}
		if sc.crl.rl.Number != nil {
			info.Number = sc.crl.rl.Number.String()
		}
		if info.Stale(now) {
			msg := fmt.Sprintf("CRL of %q is past its nextUpdate %s (stale for %s)", issuer,
				info.NextUpdate.UTC().Format(time.RFC3339), roundDays(now.Sub(info.NextUpdate)))
			if policy == CRLStaleReject {
				return nil, nil, fail(msg + "; ssl_crl_stale is reject: fetch a fresh CRL from the CA")
			}
			warnings = append(warnings, fmt.Sprintf("channel %s: %s %q: %s; it is still applied: fetch a fresh CRL from the CA", ch, sc.setting, sc.file, msg))
		}
		idx, ok := set.issuers[string(sc.crl.rl.RawIssuer)]
		if !ok {
			idx = uint32(len(set.issuers))
			set.issuers[string(sc.crl.rl.RawIssuer)] = idx
		}
		ci := uint32(len(set.crls))
		set.crls = append(set.crls, info)
		err := sc.crl.entries(func(serial serialKey, at time.Time) {
			set.revoked.add(revKey{issuer: idx, serial: serial}, revEntry{crl: ci, revokedAt: at.Unix()})
		})
		if err != nil {
			return nil, nil, fail("revoked certificate list does not parse: " + err.Error())
		}
	}
	return set, warnings, nil
}

// scanCRLPath reads an ssl_crlpath folder: c_rehash CRL links (*.rN) and
// *.crl / *.pem files, in name order, the same bytes parsed once. A file
// named as a CRL that does not parse refuses the load; certificate files
// (the folder may be the ssl_capath folder too) are passed over, other
// files are skipped with a warning.
func (b *builder) scanCRLPath(ch Channel, m material, h interface{ Write([]byte) (int, error) }) ([]sourcedCRL, []string, error) {
	fail := func(file, reason string, err error) error {
		return &ReloadError{Channel: ch, Setting: m.crlpathSetting, File: file, Reason: reason, Err: err}
	}
	fi, err := os.Stat(m.crlpath)
	if err != nil {
		return nil, nil, fail(m.crlpath, strings.Replace(fileReason(err), "file does not exist", "folder does not exist", 1), err)
	}
	if !fi.IsDir() {
		return nil, nil, fail(m.crlpath, "not a folder", nil)
	}
	entries, err := readDirBounded(m.crlpath, maxCAPathEntries)
	if errors.Is(err, errTooManyEntries) {
		return nil, nil, fail(m.crlpath, fmt.Sprintf("folder holds more than %d entries; not read", maxCAPathEntries), err)
	}
	if err != nil {
		return nil, nil, fail(m.crlpath, fileReason(err), err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	seen := map[[32]byte]bool{}
	var out []sourcedCRL
	var notNamed, notCRLs skips
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || e.IsDir() {
			continue
		}
		ext := strings.ToLower(filepath.Ext(name))
		isCRLName := crlHashName.MatchString(name) || ext == ".crl"
		if !isCRLName && ext != ".pem" {
			if !hashName.MatchString(name) && ext != ".crt" && ext != ".cer" {
				notNamed.add(name, "")
			}
			continue
		}
		p := filepath.Join(m.crlpath, name)
		data, _, err := b.readFile(p, maxCRLSize)
		if err != nil {
			if errIsDir(err) {
				continue
			}
			return nil, nil, fail(p, crlFileReason(err), err)
		}
		sum := sha256.Sum256(data)
		if seen[sum] {
			continue // a c_rehash link next to the file it points to
		}
		if ext == ".pem" && !isCRLName && !bytes.Contains(data, []byte("-----BEGIN X509 CRL")) {
			if !onlyCertificates(data) {
				notCRLs.add(name, "")
			}
			continue
		}
		crls, err := parseCRLs(data)
		if err != nil {
			return nil, nil, fail(p, err.Error(), err)
		}
		seen[sum] = true
		h.Write([]byte(name))
		h.Write([]byte{0})
		h.Write(sum[:])
		h.Write([]byte{0})
		for _, c := range crls {
			out = append(out, sourcedCRL{crl: c, setting: m.crlpathSetting, file: p})
		}
	}
	prefix := fmt.Sprintf("%s %q: ", m.crlpathSetting, m.crlpath)
	warnings := notNamed.warning(prefix, "not *.crl, *.pem or a c_rehash CRL link *.rN")
	warnings = append(warnings, notCRLs.warning(prefix, "*.pem holding neither a CRL nor certificates")...)
	if len(out) == 0 {
		warnings = append(warnings, prefix+"folder holds no CRLs: nothing is revoked")
	}
	return out, warnings, nil
}

// maxCRLSize bounds a CRL file: a CRL of a million revoked serials is
// about 40 MiB in DER.
const maxCRLSize = 256 << 20

// crlFileReason is fileReason with the CRL size limit.
func crlFileReason(err error) string {
	if errors.Is(err, errTooLarge) {
		return fmt.Sprintf("file is larger than the %d MiB limit for a CRL", maxCRLSize>>20)
	}
	return fileReason(err)
}
