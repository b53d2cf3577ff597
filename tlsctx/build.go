package tlsctx

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"time"
)

// builder holds what building a snapshot needs from the Manager: the
// seams and the retry policy, and what one pass (a reload or a check)
// shares between its channels: loaded signers and ssl_capath folders.
type builder struct {
	now       func() time.Time // validity checks: the Manager's clock
	ticketNow func() time.Time // session-ticket keys: the Manager's ticket clock
	readFile  fileReader
	pairTries int                                  // reads of a mismatched cert/key pair before failing
	pairWait  time.Duration                        // wait between those reads
	after     func(time.Duration) <-chan time.Time // the re-read timer; nil is time.After
	backend   CryptoBackend
	auto      *autoChoices              // non-nil under crypto_backend auto with libcrypto: the backend per key kind
	prev      map[Channel]*Snapshot     // live snapshots; nil in New
	signers   map[[32]byte]signerResult // keySigner results of this pass, by key file bytes
	capaths   map[string]*capathScan    // ssl_capath folders read in this pass
	largeCRL  bool                      // a CRL set of largeCRLEntries or more was built: see releaseMemory
	crls      map[[32]byte]*crlCache    // CRLs built in this pass, by what they were built from
}

// signerResult is what keySigner returned for one key.
type signerResult struct {
	signer  crypto.Signer
	used    CryptoBackend
	warning string
}

// signer is keySigner, once per pass for the same key bytes: the cluster
// channel, which falls back to ssl_key, shares the client channel's
// libcrypto key instead of importing and probing it a second time. Each
// channel has still parsed its own copy of the key and matched it to its
// own certificate.
func (b *builder) signer(keyPEM []byte, key crypto.Signer) signerResult {
	sum := sha256.Sum256(keyPEM)
	if r, ok := b.signers[sum]; ok && r.signer.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
		return r
	}
	var r signerResult
	if b.auto != nil {
		r.signer, r.used, r.warning = b.auto.signer(key)
	} else {
		r.signer, r.used, r.warning = keySigner(b.backend, key)
	}
	if b.signers == nil {
		b.signers = map[[32]byte]signerResult{}
	}
	b.signers[sum] = r
	return r
}

// expiryWarnings returns a warning for every certificate the snapshot
// depends on (the leaf, the intermediates served with it, the CAs) that
// expires within within; none when within <= 0.
func (b *builder) expiryWarnings(snap *Snapshot, within time.Duration) []string {
	if within <= 0 {
		return nil
	}
	now := b.now()
	var out []string
	for _, e := range snap.ExpiringBefore(now.Add(within)) {
		what := e.Role
		if e.Role != "certificate" {
			what += fmt.Sprintf(" %q", e.Subject)
		}
		out = append(out, fmt.Sprintf("channel %s: %s %q: %s expires at %s (in %s, within ssl_expiry_warning %s); renew it",
			snap.Channel, e.Setting, e.File, what, e.NotAfter.UTC().Format(time.RFC3339), roundDays(e.NotAfter.Sub(now)), roundDays(within)))
	}
	return out
}

// roundDays renders d as whole days and hours ("3d4h", "14d", "5h").
func roundDays(d time.Duration) string {
	d = d.Round(time.Hour)
	days, hours := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	switch {
	case days == 0:
		return fmt.Sprintf("%dh", hours)
	case hours == 0:
		return fmt.Sprintf("%dd", days)
	}
	return fmt.Sprintf("%dd%dh", days, hours)
}

// built is one channel's new snapshot plus the warnings found on the way.
type built struct {
	snap     *Snapshot
	warnings []string
}

// build reads and validates the material of ch and returns an unpublished
// snapshot. Every failure is a *ReloadError naming the setting and file.
func (b *builder) build(ctx context.Context, ch Channel, s Settings) (built, error) {
	m := channelMaterial(s, ch)
	var out built
	var keyPEMs [][]byte // each pair's key, as read
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s\x00%s\x00", ch, m.cert, m.key, m.ca, m.capath, m.passphrase)
	policy, err := ChannelPolicy(s, ch)
	if err != nil {
		return built{}, err
	}
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00", policy.Versions, policy.Ciphers, policy.CipherSuites, policy.Groups)
	fmt.Fprintf(h, "crl\x00%s\x00%s\x00", m.crl, m.crlpath)

	snap := &Snapshot{
		Channel:  ch,
		CertFile: m.cert, KeyFile: m.key, CAFile: m.ca, CAPath: m.capath,
		CRLFile: m.crl, CRLPath: m.crlpath,
		LoadedAt: b.now(), certSetting: m.certSetting, Policy: policy,
	}
	switch s.CRLStale {
	case "", CRLStaleWarn, CRLStaleReject:
	default:
		return built{}, &ReloadError{Channel: ch, Setting: "ssl_crl_stale",
			Reason: fmt.Sprintf("%q: must be %s or %s", s.CRLStale, CRLStaleWarn, CRLStaleReject)}
	}

	if err := clusterTrust(s, ch); err != nil {
		return built{}, err
	}
	// CAs first: the cluster leaf is verified against them.
	if m.hasCA() {
		pool, certs, warnings, err := b.loadCAs(ch, m, h)
		if err != nil {
			return built{}, err
		}
		snap.CAs, snap.CACount, snap.caCerts = pool, len(certs), certs
		out.warnings = append(out.warnings, warnings...)
	}
	crls, warnings, err := b.loadCRLs(ch, m, snap.caCerts, s.CRLStale, h)
	if err != nil {
		return built{}, err
	}
	snap.crls = crls
	out.warnings = append(out.warnings, warnings...)
	if snap.CAs != nil {
		// Removed CAs in their overlap window stay in the pool: for peer
		// certificates and for the cluster leaf below (a rotation may set
		// ssl_ca to the new CA alone while the leaves are still the old
		// CA's). CRLs above were checked against the configured CAs.
		if ov := b.overlapFor(ch, snap.caCerts, s.CAOverlap); len(ov) > 0 {
			pool := snap.CAs.Clone()
			for _, o := range ov {
				pool.AddCert(o.cert)
				sum := sha256.Sum256(o.cert.Raw)
				fmt.Fprintf(h, "overlap\x00%x\x00%d\x00", sum, o.Until.UnixNano())
				out.warnings = append(out.warnings, fmt.Sprintf("channel %s: CA %q, no longer in %s %q, stays trusted for peer certificates until %s (ssl_ca_overlap)",
					ch, o.Subject, o.Setting, o.File, o.Until.UTC().Format(time.RFC3339)))
			}
			snap.CAs, snap.overlap = pool, ov
		}
	}

	if m.hasPair() {
		if m.cert == "" {
			return built{}, &ReloadError{Channel: ch, Setting: m.certSetting, Reason: m.keySetting + " is set but " + m.certSetting + " is empty"}
		}
		if m.key == "" {
			return built{}, &ReloadError{Channel: ch, Setting: m.keySetting, Reason: m.certSetting + " is set but " + m.keySetting + " is empty"}
		}
		certs, keys := SplitList(m.cert), SplitList(m.key)
		if len(certs) == 0 {
			return built{}, &ReloadError{Channel: ch, Setting: m.certSetting, File: m.cert, Reason: "names no file (only commas and spaces)"}
		}
		if len(keys) == 0 {
			return built{}, &ReloadError{Channel: ch, Setting: m.keySetting, File: m.key, Reason: "names no file (only commas and spaces)"}
		}
		if len(certs) != len(keys) {
			return built{}, &ReloadError{Channel: ch, Setting: m.keySetting, File: m.key,
				Reason: fmt.Sprintf("lists %d %s but %s %q lists %d %s; certificates and keys pair by position",
					len(keys), plural(len(keys), "key", "keys"), m.certSetting, m.cert, len(certs), plural(len(certs), "certificate", "certificates"))}
		}
		for i := range certs {
			pm := m
			pm.cert, pm.key = certs[i], keys[i]
			sc, keyPEM, warnings, err := b.buildPair(ctx, ch, pm, snap.CAs, h)
			if err != nil {
				if re, ok := err.(*ReloadError); ok && len(certs) > 1 {
					re.Reason += fmt.Sprintf(" (pair %d of %d: %s %q with %s %q)", i+1, len(certs), m.certSetting, certs[i], m.keySetting, keys[i])
				}
				return built{}, err
			}
			w, err := policy.checkKey(ch, s, sc.Leaf)
			if err != nil {
				return built{}, err
			}
			sc.Position = i + 1
			keyPEMs = append(keyPEMs, keyPEM)
			out.warnings = append(out.warnings, warnings...)
			out.warnings = append(out.warnings, w...)
			snap.Certs = append(snap.Certs, sc)
		}
		snap.Certificate, snap.Leaf = snap.Certs[0].Certificate, snap.Certs[0].Leaf
	}
	out.warnings = append(out.warnings, b.expiryWarnings(snap, s.ExpiryWarning)...)
	copy(snap.digest[:], h.Sum(nil))
	if p := b.prev[ch]; p != nil && p.digest == snap.digest {
		// Unchanged: the caller keeps p, so build no second signer (a
		// libcrypto key and its probe signature) and config for nothing.
		out.snap = p
		out.warnings = append(out.warnings, p.keyWarnings...)
		return out, nil
	}
	for i, sc := range snap.Certs {
		// The Go key has been parsed, checked and matched to the leaf;
		// only now is it handed to the backend that signs handshakes.
		r := b.signer(keyPEMs[i], sc.Certificate.PrivateKey.(crypto.Signer))
		sc.Certificate.PrivateKey, sc.KeyBackend = r.signer, r.used
		if r.warning != "" {
			w := fmt.Sprintf("%s %q: %s", m.keySetting, sc.KeyFile, r.warning)
			snap.keyWarnings = append(snap.keyWarnings, w)
			out.warnings = append(out.warnings, w)
		}
	}
	if len(snap.Certs) > 0 {
		snap.KeyBackend = snap.Certs[0].KeyBackend
	}
	snap.serverConfig = serverConfig(snap, b.ticketNow())
	out.snap = snap
	return out, nil
}

// buildPair reads, parses and checks one certificate and key of ch (m
// names the pair's own files): the key matches, the leaf is inside its
// validity window and fit for server auth, and on the cluster channel it
// verifies against cas. It adds the bytes read to h and returns the key as
// read, for the signer.
func (b *builder) buildPair(ctx context.Context, ch Channel, m material, cas *x509.CertPool, h io.Writer) (*ServedCert, []byte, []string, error) {
	cert, leaf, certPEM, keyPEM, warnings, err := b.loadPair(ctx, ch, m)
	if err != nil {
		return nil, nil, nil, err
	}
	fmt.Fprintf(h, "%s\x00%s\x00", m.cert, m.key)
	h.Write(certPEM)
	h.Write([]byte{0})
	h.Write(keyPEM)
	h.Write([]byte{0})
	if err := b.checkLeaf(ch, m, leaf); err != nil {
		return nil, nil, nil, err
	}
	sc := &ServedCert{CertFile: m.cert, KeyFile: m.key, Certificate: cert, Leaf: leaf}
	// The intermediates served after the leaf, parsed once: the cluster
	// chain check and the expiry list use them.
	for _, c := range cert.Certificate[1:] {
		if ic, err := x509.ParseCertificate(c); err == nil {
			sc.intermediates = append(sc.intermediates, ic)
		}
	}
	if ch == ChannelCluster && cas != nil {
		inter := x509.NewCertPool()
		for _, ic := range sc.intermediates {
			inter.AddCert(ic)
		}
		_, err := leaf.Verify(x509.VerifyOptions{
			Roots: cas, Intermediates: inter, CurrentTime: b.now(),
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		})
		if err != nil {
			return nil, nil, nil, &ReloadError{Channel: ch, Setting: m.certSetting, File: m.cert,
				Reason: fmt.Sprintf("certificate does not verify against the cluster CA set (%s): %v", caDesc(m), err), Err: err}
		}
	}
	return sc, keyPEM, warnings, nil
}

// clusterTrust refuses a served cluster channel with no CA at all: its
// port requires a peer certificate, and with no CA set it would be checked
// against the system roots, so any certificate a public CA ever issued
// would get in. Nil for the client channel, where no CA means no client
// certificate is asked for.
func clusterTrust(s Settings, ch Channel) error {
	if ch != ChannelCluster || !s.Serves(ChannelCluster) || channelMaterial(s, ch).hasCA() {
		return nil
	}
	return &ReloadError{Channel: ChannelCluster, Setting: "cluster_ssl_ca",
		Reason: "no CA to verify the peers' certificates on the cluster port: set cluster_ssl_ca or cluster_ssl_capath " +
			"(or ssl_ca / ssl_capath, which the cluster channel falls back to); the system roots are never trusted for peer certificates"}
}

func caDesc(m material) string {
	var parts []string
	if m.ca != "" {
		parts = append(parts, m.caSetting)
	}
	if m.capath != "" {
		parts = append(parts, m.capathSetting)
	}
	return strings.Join(parts, " + ")
}

// pairFirstWait is the first wait before a torn pair is re-read; the waits
// double from there.
const pairFirstWait = 2 * time.Millisecond

// loadPair reads cert and key, parses them and checks that they match.
// A pair that does not parse or does not match is re-read at growing
// intervals (2 ms, 4 ms, 8 ms, ...) for the window of pairTries-1 times
// pairWait before the last error is returned: a writer that
// replaces the certificate and then the key (certbot, cp, kubelet without
// the ..data swap), or rewrites a file in place (truncate, then write),
// leaves a short window in which a file is empty, cut short, or disagrees
// with the other, and that window must not be reported as a bad
// certificate. A file that cannot be read at all (missing, a folder,
// permission) fails at once.
func (b *builder) loadPair(ctx context.Context, ch Channel, m material) (*tls.Certificate, *x509.Certificate, []byte, []byte, []string, error) {
	tries := b.pairTries
	if tries < 1 {
		tries = 1
	}
	// The re-reads come at short, growing intervals (pairFirstWait, then
	// doubling) within the window pairTries-1 waits of pairWait would
	// take: a writer that finishes within milliseconds is caught within
	// milliseconds, and one that takes longer gets the same overall time.
	window := b.pairWait * time.Duration(tries-1)
	deadline := b.now().Add(window)
	after := b.after
	if after == nil {
		after = time.After
	}
	wait := min(pairFirstWait, window)
	for attempt := 1; ; attempt++ {
		certPEM, _, err := b.read(ch, m.certSetting, m.cert)
		if err != nil {
			return nil, nil, nil, nil, nil, err
		}
		keyPEM, mode, err := b.read(ch, m.keySetting, m.key)
		if err != nil {
			return nil, nil, nil, nil, nil, err
		}
		var last *ReloadError
		chain, err := parseCertificates(certPEM)
		if err != nil {
			last = &ReloadError{Channel: ch, Setting: m.certSetting, File: m.cert, Reason: err.Error(), Err: err}
		}
		var key crypto.Signer
		if last == nil {
			key, err = parsePrivateKey(keyPEM, m.passphrase)
			if err != nil {
				last = &ReloadError{Channel: ch, Setting: m.keySetting, File: m.key, Reason: err.Error(), Err: err}
				if errors.Is(err, errKeyEncryptedNoPass) {
					return nil, nil, nil, nil, nil, last // a setting problem, not a torn write
				}
			}
		}
		if last == nil {
			if keyMatches(chain[0], key) {
				var warnings []string
				// Others, not the group: a group read bit is how the service
				// user reads a key it does not own (Debian's root:ssl-cert
				// 0640, a Kubernetes Secret with fsGroup, 0440), as
				// PostgreSQL allows 0640 for a root-owned key.
				if runtime.GOOS != "windows" && mode.Perm()&0o007 != 0 {
					warnings = append(warnings, fmt.Sprintf("%s %q is readable by others (mode %04o); chmod o-rwx it (0640 with a group such as ssl-cert, or 0600)", m.keySetting, m.key, mode.Perm()))
				}
				return newCertificate(chain, key), chain[0], certPEM, keyPEM, warnings, nil
			}
			last = &ReloadError{Channel: ch, Setting: m.keySetting, File: m.key,
				Reason: fmt.Sprintf("private key does not match the certificate in %s %q (read %d times)", m.certSetting, m.cert, attempt)}
		}
		left := deadline.Sub(b.now())
		if left <= 0 || window <= 0 {
			return nil, nil, nil, nil, nil, last
		}
		select {
		case <-ctx.Done():
			last.Reason += "; the reload was cancelled while re-reading: " + ctx.Err().Error()
			return nil, nil, nil, nil, nil, last
		case <-after(min(wait, left)):
		}
		wait *= 2
	}
}

func newCertificate(chain []*x509.Certificate, key crypto.Signer) *tls.Certificate {
	c := &tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, x := range chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}

func (b *builder) read(ch Channel, setting, path string) ([]byte, fs.FileMode, error) {
	data, mode, err := b.readFile(path, maxFileSize)
	if err != nil {
		return nil, 0, &ReloadError{Channel: ch, Setting: setting, File: path, Reason: fileReason(err), Err: err}
	}
	return data, mode, nil
}

// checkLeaf enforces the validity window and fitness for server auth.
func (b *builder) checkLeaf(ch Channel, m material, leaf *x509.Certificate) error {
	fail := func(reason string) error {
		return &ReloadError{Channel: ch, Setting: m.certSetting, File: m.cert, Reason: reason}
	}
	outside := func(reason string) error {
		return &ReloadError{Channel: ch, Setting: m.certSetting, File: m.cert, Reason: reason, Err: ErrOutsideValidity}
	}
	now := b.now()
	if now.After(leaf.NotAfter) {
		return outside(fmt.Sprintf("certificate expired at %s (now %s)", leaf.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)))
	}
	if now.Before(leaf.NotBefore) {
		return outside(fmt.Sprintf("certificate not yet valid: valid from %s (now %s)", leaf.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)))
	}
	if leaf.IsCA {
		return fail("certificate is a CA certificate (basicConstraints CA:TRUE), not a server certificate")
	}
	if len(leaf.ExtKeyUsage) > 0 || len(leaf.UnknownExtKeyUsage) > 0 {
		ok := false
		for _, u := range leaf.ExtKeyUsage {
			if u == x509.ExtKeyUsageServerAuth || u == x509.ExtKeyUsageAny {
				ok = true
			}
		}
		if !ok {
			return fail("certificate is not valid for server authentication (extendedKeyUsage lacks serverAuth)")
		}
	}
	if leaf.KeyUsage != 0 {
		ok := leaf.KeyUsage&x509.KeyUsageDigitalSignature != 0
		if leaf.PublicKeyAlgorithm == x509.RSA && leaf.KeyUsage&x509.KeyUsageKeyEncipherment != 0 {
			ok = true
		}
		if !ok {
			return fail("certificate key usage lacks digitalSignature")
		}
	}
	return nil
}

// hashName matches OpenSSL c_rehash link names: 8 hex digits, ".", a number.
var hashName = regexp.MustCompile(`^[0-9a-fA-F]{8}\.[0-9]+$`)

// crlHashName matches c_rehash links to CRLs, which are skipped silently.
var crlHashName = regexp.MustCompile(`^[0-9a-fA-F]{8}\.r[0-9]+$`)

// loadCAs reads ssl_ca and ssl_capath into one pool, and returns each
// distinct CA certificate with where it was read. Every certificate in
// ssl_ca must parse; in ssl_capath, files that are not certificates are
// skipped with a warning. Duplicates (c_rehash links next to the files
// they point to) are counted once.
func (b *builder) loadCAs(ch Channel, m material, h interface{ Write([]byte) (int, error) }) (*x509.CertPool, []sourcedCert, []string, error) {
	pool := x509.NewCertPool()
	seen := map[[32]byte]bool{}
	var list []sourcedCert
	add := func(c *x509.Certificate, setting, file string) {
		sum := sha256.Sum256(c.Raw)
		if !seen[sum] {
			seen[sum] = true
			pool.AddCert(c)
			list = append(list, sourcedCert{cert: c, setting: setting, file: file})
		}
	}
	var warnings []string
	if m.ca != "" {
		data, _, err := b.read(ch, m.caSetting, m.ca)
		if err != nil {
			return nil, nil, nil, err
		}
		certs, err := parseCertificates(data)
		if err != nil {
			return nil, nil, nil, &ReloadError{Channel: ch, Setting: m.caSetting, File: m.ca, Reason: err.Error(), Err: err}
		}
		h.Write(data)
		h.Write([]byte{0})
		for _, c := range certs {
			add(c, m.caSetting, m.ca)
		}
	}
	if m.capath != "" {
		fail := func(reason string, err error) error {
			return &ReloadError{Channel: ch, Setting: m.capathSetting, File: m.capath, Reason: reason, Err: err}
		}
		scan := b.scanCAPath(m.capath)
		if scan.failReason != "" {
			return nil, nil, nil, fail(scan.failReason, scan.failErr)
		}
		found := 0
		for _, file := range scan.files {
			h.Write([]byte(file.name))
			h.Write([]byte{0})
			h.Write(file.sum[:]) // the bytes' digest: a folder's data is not kept
			h.Write([]byte{0})
			for _, c := range file.certs {
				add(c, m.capathSetting, file.path)
			}
			found++
		}
		notNamed, unreadable, notCerts := scan.notNamed, scan.unreadable, scan.notCerts
		prefix := fmt.Sprintf("%s %q: ", m.capathSetting, m.capath)
		warnings = append(warnings, notNamed.warning(prefix, "not *.pem, *.crt, *.cer or a c_rehash hash name")...)
		warnings = append(warnings, unreadable.warning(prefix, "cannot be read")...)
		warnings = append(warnings, notCerts.warning(prefix, "not certificates")...)
		if scan.crlLinks > 0 && m.crlpath != m.capath {
			warnings = append(warnings, fmt.Sprintf("%s%d c_rehash CRL links (*.rN) are not applied: CRLs are read from %s, set it to this folder to apply them",
				prefix, scan.crlLinks, m.crlpathSetting))
		}
		if found == 0 {
			return nil, nil, nil, fail("folder holds no CA certificates", nil)
		}
	}
	if err := fitsCertificateRequest(ch, m, list); err != nil {
		return nil, nil, nil, err
	}
	return pool, list, warnings, nil
}

// MaxCAPathEntries bounds the entries of an ssl_capath folder: past it the
// folder is refused before any file is read. Reading and parsing cost
// 20–40 µs a file on a 2-core VM (100,000 files: 3.4 s a reload, see
// docs/reliability.md), so at the limit a reload stays inside the default
// reload_timeout (10 s); a real CA folder holds hundreds (a TLS
// CertificateRequest can list only a few thousand CA names at most).
const MaxCAPathEntries = 100_000

// maxCAPathEntries is MaxCAPathEntries; tests lower it.
var maxCAPathEntries = MaxCAPathEntries

// capathScan is one ssl_capath folder read and parsed, in name order: the
// certificate files, and the skipped ones by kind. A reload reads a folder
// once for both channels (builder.scanCAPath).
type capathScan struct {
	files                          []capathFile
	notNamed, unreadable, notCerts skips
	crlLinks                       int    // c_rehash CRL links (*.rN), read only through ssl_crlpath
	failReason                     string // the folder cannot be used: why
	failErr                        error
}

type capathFile struct {
	name, path string
	sum        [32]byte // SHA-256 of the file
	certs      []*x509.Certificate
}

// scanCAPath reads dir as ssl_capath, once per builder pass (the client and
// cluster channels share it): each file that may be a certificate is
// opened, checked and read once, and the same bytes (copies, c_rehash
// links) are parsed once.
func (b *builder) scanCAPath(dir string) *capathScan {
	if sc, ok := b.capaths[dir]; ok {
		return sc
	}
	sc := &capathScan{}
	if b.capaths == nil {
		b.capaths = map[string]*capathScan{}
	}
	b.capaths[dir] = sc
	fi, err := os.Stat(dir)
	if err != nil {
		sc.failReason, sc.failErr = strings.Replace(fileReason(err), "file does not exist", "folder does not exist", 1), err
		return sc
	}
	if !fi.IsDir() {
		sc.failReason = "not a folder"
		return sc
	}
	entries, err := readDirBounded(dir, maxCAPathEntries)
	if outOfDescriptors(err) {
		entries, err = readDirBounded(dir, maxCAPathEntries)
	}
	if errors.Is(err, errTooManyEntries) {
		sc.failReason = fmt.Sprintf("folder holds more than %d entries (the limit: a CA folder holds hundreds, and a TLS CertificateRequest can list only a few thousand CA names); not read", maxCAPathEntries)
		return sc
	}
	if err != nil {
		sc.failReason, sc.failErr = fileReason(err), err
		return sc
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	parsed := map[[32]byte][]*x509.Certificate{}
	parseErrs := map[[32]byte]error{}
	// Skipped files are counted per kind and named once each kind,
	// the first one with its reason: a folder of 20,000 stray files
	// is one line per reload, not 20,000.
	for _, e := range entries {
		name := e.Name()
		if crlHashName.MatchString(name) {
			sc.crlLinks++ // ssl_crlpath's business
			continue
		}
		if strings.HasPrefix(name, ".") || e.IsDir() {
			continue // hidden files and Kubernetes ..data folders
		}
		p := filepath.Join(dir, name)
		ext := strings.ToLower(filepath.Ext(name))
		if !hashName.MatchString(name) && ext != ".pem" && ext != ".crt" && ext != ".cer" {
			sc.notNamed.add(name, "")
			continue
		}
		data, _, err := b.readFile(p, maxFileSize)
		if err != nil {
			if errIsDir(err) {
				continue
			}
			sc.unreadable.add(name, fileReason(err))
			continue
		}
		sum := sha256.Sum256(data)
		certs, seen := parsed[sum]
		err = parseErrs[sum]
		if !seen && err == nil {
			certs, err = parseCAPathFile(data)
			if err != nil {
				parseErrs[sum] = err
			} else {
				parsed[sum] = certs
			}
		}
		if err != nil {
			sc.notCerts.add(name, fmt.Sprintf("not a certificate (%v)", err))
			continue
		}
		sc.files = append(sc.files, capathFile{name: name, path: p, sum: sum, certs: certs})
	}
	return sc
}

// parseCAPathFile parses one ssl_capath file; a variable so that a test can
// count the parses.
var parseCAPathFile = parseCertificates

var errTooManyEntries = errors.New("too many entries")

// readDirBounded is os.ReadDir that stops with errTooManyEntries past
// limit entries, without listing the rest.
func readDirBounded(dir string, limit int) ([]os.DirEntry, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []os.DirEntry
	for {
		batch, err := f.ReadDir(4096)
		out = append(out, batch...)
		if len(out) > limit {
			return nil, errTooManyEntries
		}
		if err == io.EOF || (err == nil && len(batch) == 0) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// skips counts the files of one kind that loadCAs skipped in a folder and
// keeps the first, with its reason.
type skips struct {
	n            int
	first, cause string
}

func (s *skips) add(name, cause string) {
	if s.n == 0 {
		s.first, s.cause = name, cause
	}
	s.n++
}

// warning is the one finding for the skipped files: the file and its
// reason when there is one; else how many, why, and the first of them.
func (s *skips) warning(prefix, kind string) []string {
	switch {
	case s.n == 0:
		return nil
	case s.n == 1 && s.cause == "":
		return []string{fmt.Sprintf("%sskipped %q (%s)", prefix, s.first, kind)}
	case s.n == 1:
		return []string{fmt.Sprintf("%sskipped %q: %s", prefix, s.first, s.cause)}
	case s.cause == "":
		return []string{fmt.Sprintf("%sskipped %d files (%s), the first %q", prefix, s.n, kind, s.first)}
	}
	return []string{fmt.Sprintf("%sskipped %d files (%s), the first %q: %s", prefix, s.n, kind, s.first, s.cause)}
}

// maxCANames is the most bytes of CA names a CertificateRequest can carry:
// TLS 1.2's certificate_authorities and TLS 1.3's extension of that name
// both have a 2-byte length (RFC 5246 7.4.4, RFC 8446 4.2.4), and the
// extension's own 2-byte length must also hold the list's length prefix.
const maxCANames = 65535 - 2

// fitsCertificateRequest refuses a CA set whose names cannot be listed in
// the CertificateRequest that asks for a client certificate. crypto/tls
// lists the subject of every CA in ClientCAs there; past the limit it
// cannot write the message, so every handshake would fail (the client
// sees the connection close) while the reload itself looked fine.
func fitsCertificateRequest(ch Channel, m material, list []sourcedCert) error {
	size := 0
	for _, c := range list {
		size += 2 + len(c.cert.RawSubject)
	}
	if size <= maxCANames {
		return nil
	}
	setting, file := m.caSetting, m.ca
	if file == "" {
		setting, file = m.capathSetting, m.capath
	}
	return &ReloadError{Channel: ch, Setting: setting, File: file,
		Reason: fmt.Sprintf("%d CA certificates (%s) whose names take %d bytes: more than the %d bytes a TLS CertificateRequest can list, "+
			"so every handshake that asks for a client certificate would fail; keep only the CAs that issue client certificates", len(list), caDesc(m), size, maxCANames)}
}
