package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/pelletier/go-toml/v2"
	"github.com/spf13/viper"

	"github.com/ssld/ssld/protocol"
	"github.com/ssld/ssld/tlsctx"
)

// File is the whole configuration file. Keys are documented in
// docs/configuration.md; every key can be overridden by SSLD_<KEY>.
type File struct {
	Listen                 string        `mapstructure:"listen"`
	Socket                 string        `mapstructure:"socket"`
	ClusterListen          string        `mapstructure:"cluster_listen"`
	MetricsListen          string        `mapstructure:"metrics_listen"`
	Role                   string        `mapstructure:"role"`
	SSLCert                string        `mapstructure:"ssl_cert"`
	SSLKey                 string        `mapstructure:"ssl_key"`
	SSLKeyPassphrase       string        `mapstructure:"ssl_key_passphrase"`
	SSLCA                  string        `mapstructure:"ssl_ca"`
	SSLCAPath              string        `mapstructure:"ssl_capath"`
	ClusterSSLCert         string        `mapstructure:"cluster_ssl_cert"`
	ClusterSSLKey          string        `mapstructure:"cluster_ssl_key"`
	ClusterSSLCA           string        `mapstructure:"cluster_ssl_ca"`
	ClusterSSLCAPath       string        `mapstructure:"cluster_ssl_capath"`
	SSLCRL                 string        `mapstructure:"ssl_crl"`
	SSLCRLPath             string        `mapstructure:"ssl_crlpath"`
	ClusterSSLCRL          string        `mapstructure:"cluster_ssl_crl"`
	ClusterSSLCRLPath      string        `mapstructure:"cluster_ssl_crlpath"`
	SSLCRLStale            string        `mapstructure:"ssl_crl_stale"`
	AllowIdentityChange    bool          `mapstructure:"ssl_allow_identity_change"`
	CloseUntrustedSessions bool          `mapstructure:"ssl_close_untrusted_sessions"`
	CAOverlap              time.Duration `mapstructure:"ssl_ca_overlap"`
	TLSVersion             string        `mapstructure:"tls_version"`
	SSLCipher              string        `mapstructure:"ssl_cipher"`
	TLSCipherSuites        string        `mapstructure:"tls_ciphersuites"`
	SSLGroups              string        `mapstructure:"ssl_groups"`
	ClusterTLSVersion      string        `mapstructure:"cluster_tls_version"`
	ClusterSSLCipher       string        `mapstructure:"cluster_ssl_cipher"`
	ClusterTLSCipherSuites string        `mapstructure:"cluster_tls_ciphersuites"`
	ClusterSSLGroups       string        `mapstructure:"cluster_ssl_groups"`
	ServerVersion          string        `mapstructure:"server_version"`
	CryptoBackend          string        `mapstructure:"crypto_backend"`
	SSLExpiryWarning       time.Duration `mapstructure:"ssl_expiry_warning"`
	RequireSecureTransport bool          `mapstructure:"require_secure_transport"`
	// caching_sha2_password over plain TCP: the RSA key pair clients
	// retrieve (MySQL's names); empty = generated on first use.
	SHA2PrivateKeyPath string        `mapstructure:"caching_sha2_password_private_key_path"`
	SHA2PublicKeyPath  string        `mapstructure:"caching_sha2_password_public_key_path"`
	Watch              bool          `mapstructure:"watch"`
	WatchRecheck       time.Duration `mapstructure:"watch_recheck"`
	MaxConnections     int           `mapstructure:"max_connections"`
	ConnectTimeout     time.Duration `mapstructure:"connect_timeout"`
	MaxAllowedPacket   int64         `mapstructure:"max_allowed_packet"`
	ReloadTimeout      time.Duration `mapstructure:"reload_timeout"`
	ReadTimeout        time.Duration `mapstructure:"read_timeout"`
	WriteTimeout       time.Duration `mapstructure:"write_timeout"`
	LogLevel           string        `mapstructure:"log_level"`
	LogFormat          string        `mapstructure:"log_format"`
	Users              []User        `mapstructure:"users"`
	Cluster            struct {
		Aggregators []string `mapstructure:"aggregators"`
		Leaves      []string `mapstructure:"leaves"`
	} `mapstructure:"cluster"`

	path    string   // absolute path of the file it was read from
	unknown []string // keys of a YAML or TOML file that no setting reads
}

type User struct {
	Name         string   `mapstructure:"name"`
	PasswordHash string   `mapstructure:"password_hash"`
	Password     string   `mapstructure:"password"`
	Plugin       string   `mapstructure:"plugin"`
	Privileges   []string `mapstructure:"privileges"`
	RequireSSL   bool     `mapstructure:"require_ssl"`
	RequireX509  bool     `mapstructure:"require_x509"`
}

// defaults holds every scalar key with its default. Registering each key is
// also what makes viper's AutomaticEnv see SSLD_<KEY> for it.
var defaults = map[string]any{
	"listen":                                 "127.0.0.1:3307",
	"socket":                                 "",
	"cluster_listen":                         "",
	"metrics_listen":                         "",
	"role":                                   "aggregator",
	"ssl_cert":                               "",
	"ssl_key":                                "",
	"ssl_key_passphrase":                     "",
	"ssl_ca":                                 "",
	"ssl_capath":                             "",
	"cluster_ssl_cert":                       "",
	"cluster_ssl_key":                        "",
	"cluster_ssl_ca":                         "",
	"cluster_ssl_capath":                     "",
	"ssl_crl":                                "",
	"ssl_crlpath":                            "",
	"cluster_ssl_crl":                        "",
	"cluster_ssl_crlpath":                    "",
	"ssl_crl_stale":                          tlsctx.CRLStaleWarn,
	"ssl_allow_identity_change":              false,
	"ssl_close_untrusted_sessions":           false,
	"ssl_ca_overlap":                         time.Duration(0),
	"tls_version":                            tlsctx.DefaultTLSVersion,
	"ssl_cipher":                             "",
	"tls_ciphersuites":                       "",
	"ssl_groups":                             "",
	"cluster_tls_version":                    "",
	"cluster_ssl_cipher":                     "",
	"cluster_tls_ciphersuites":               "",
	"cluster_ssl_groups":                     "",
	"server_version":                         protocol.DefaultServerVersion,
	"crypto_backend":                         "auto",
	"ssl_expiry_warning":                     14 * 24 * time.Hour,
	"require_secure_transport":               false,
	"caching_sha2_password_private_key_path": "",
	"caching_sha2_password_public_key_path":  "",
	"watch":                                  false,
	"watch_recheck":                          5 * time.Minute,
	"max_connections":                        protocol.DefaultMaxConnections,
	"connect_timeout":                        protocol.DefaultConnectTimeout,
	"max_allowed_packet":                     protocol.DefaultMaxAllowedPacket,
	"reload_timeout":                         DefaultReloadTimeout,
	"read_timeout":                           protocol.DefaultReadTimeout,
	"write_timeout":                          protocol.DefaultWriteTimeout,
	"log_level":                              "info",
	"log_format":                             "text",
	"cluster.aggregators":                    []string{},
	"cluster.leaves":                         []string{},
}

// Load reads the file at path (YAML, TOML, or my.cnf-style INI, chosen
// by extension), applies SSLD_* environment overrides and defaults, and
// resolves relative paths against the file's folder. It reads the file anew
// each call. It is given DefaultReloadTimeout: start-up, `ssld check` and
// FLUSH PRIVILEGES never wait longer on a config file.
func Load(path string) (*File, error) {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultReloadTimeout)
	defer cancel()
	return loadConfigContext(ctx, path, parseConfig)
}

// parseSlots bounds the parses running at once, abandoned ones included:
// a parse whose caller's deadline passed finishes in the background, within
// the bounds of limits.go (well under a second).
var parseSlots = make(chan struct{}, 4)

// loadConfigContext runs parse (parseConfig, or a test's stand-in) for
// path and returns when it is done or when ctx is, whichever comes first,
// so that a reload whose deadline passed returns (and frees tlsctx's
// reload slot) even while the parse is still running.
func loadConfigContext(ctx context.Context, path string, parse func(context.Context, string) (*File, error)) (*File, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	late := func(err error) error {
		return fmt.Errorf("config file %s: reading it did not finish before the reload's deadline (%v)", abs, err)
	}
	select {
	case parseSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, late(ctx.Err())
	}
	type result struct {
		c   *File
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() { <-parseSlots }()
		c, err := parse(ctx, abs)
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		return r.c, r.err
	case <-ctx.Done():
		return nil, late(ctx.Err())
	}
}

// parseConfig is Load's work on the absolute path abs: read, check
// the bounds, parse with viper, decode strictly, validate.
func parseConfig(ctx context.Context, abs string) (*File, error) {
	format, err := configFormat(abs)
	if err != nil {
		return nil, err
	}
	// Read once, non-blocking and only if it is a regular file (a FIFO at
	// the config path must not hang SSL_RELOAD); viper parses the bytes.
	raw, err := readConfigFile(abs)
	if err != nil {
		return nil, err
	}
	if err := checkConfigMode(abs); err != nil {
		return nil, err
	}
	// The bounds are checked before viper sees the file: its key search is
	// what a deep or wide file makes slow.
	shape, err := scanConfig(ctx, abs, format, raw)
	if err != nil {
		return nil, err
	}
	v := viper.NewWithOptions(viper.WithCodecRegistry(codecs()))
	v.SetConfigFile(abs)
	v.SetConfigType(format)
	for k, d := range defaults {
		v.SetDefault(k, d)
	}
	v.SetEnvPrefix("SSLD")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	if err := v.ReadConfig(bytes.NewReader(raw)); err != nil {
		// The scan parsed it with the same parser; this is a finding of
		// the decoder (a key defined twice). Its text may quote the file.
		return nil, fmt.Errorf("%s: cannot parse %s: %s", atLine(abs, lineOf(err)), strings.ToUpper(format), parseReason(err))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := joinPathLists(v, abs); err != nil {
		return nil, err
	}
	var c File
	var md mapstructure.Metadata
	if err := v.Unmarshal(&c, func(dc *mapstructure.DecoderConfig) {
		dc.Metadata = &md
		dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(strictStrings, dc.DecodeHook)
	}); err != nil {
		return nil, decodeError(abs, shape, err)
	}
	c.path = abs
	// A misspelt key (ssl_certificate:) would otherwise vanish without a
	// word. INI is left out: its [mysqld] section is shared with mariadbd
	// and holds mariadbd's own keys.
	if v.ConfigFileUsed() != "" && !isINI(abs) {
		c.unknown = slices.Sorted(slices.Values(md.Unused))
	}
	dir := filepath.Dir(abs)
	for _, p := range []*string{&c.Socket, &c.SSLCA, &c.SSLCAPath,
		&c.ClusterSSLCA, &c.ClusterSSLCAPath,
		&c.SSLCRL, &c.SSLCRLPath, &c.ClusterSSLCRL, &c.ClusterSSLCRLPath,
		&c.SHA2PrivateKeyPath, &c.SHA2PublicKeyPath} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	// ssl_cert and ssl_key may list several files: each resolves.
	for _, p := range []*string{&c.SSLCert, &c.SSLKey, &c.ClusterSSLCert, &c.ClusterSSLKey} {
		paths := tlsctx.SplitList(*p)
		for i, f := range paths {
			if !filepath.IsAbs(f) {
				paths[i] = filepath.Join(dir, f)
			}
		}
		*p = tlsctx.JoinList(paths)
	}
	switch c.Role {
	case "aggregator", "leaf":
	default:
		return nil, settingError(abs, "role", "%q: must be aggregator or leaf", c.Role)
	}
	if err := protocol.CheckServerVersion(c.ServerVersion); err != nil {
		return nil, settingError(abs, "server_version", "%q: %v", c.ServerVersion, err)
	}
	if c.ReloadTimeout <= 0 {
		return nil, settingError(abs, "reload_timeout", "%v: must be positive", c.ReloadTimeout)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"connect_timeout", c.ConnectTimeout}, {"read_timeout", c.ReadTimeout}, {"write_timeout", c.WriteTimeout},
		{"ssl_ca_overlap", c.CAOverlap}} {
		if d.v < 0 {
			return nil, settingError(abs, d.key, "%v: must not be negative", d.v)
		}
	}
	// MySQL's range for max_allowed_packet; 0 is the default.
	if p := c.MaxAllowedPacket; p != 0 && (p < 1024 || p > 1<<30) {
		return nil, settingError(abs, "max_allowed_packet", "%d: must be between 1024 and 1073741824 bytes", p)
	}
	if c.MaxConnections < 1 {
		return nil, settingError(abs, "max_connections", "%d: must be at least 1", c.MaxConnections)
	}
	if _, err := tlsctx.ParseCryptoBackend(c.CryptoBackend); err != nil {
		return nil, fmt.Errorf("%s: crypto_backend: %v", SettingSource(abs, "crypto_backend"), err)
	}
	return &c, nil
}

// pathListKeys are the settings that take one path or a list of them
// (several certificates per channel, paired by position).
var pathListKeys = []string{"ssl_cert", "ssl_key", "cluster_ssl_cert", "cluster_ssl_key"}

// joinPathLists turns a YAML or TOML list given for a pathListKeys
// setting into its comma-separated form, the one an INI file or an
// SSLD_* variable gives. An element that is not a string, or that holds a
// comma (it would read as two paths), is refused, naming the setting.
func joinPathLists(v *viper.Viper, abs string) error {
	for _, key := range pathListKeys {
		list, ok := v.Get(key).([]any)
		if !ok {
			continue
		}
		paths := make([]string, 0, len(list))
		for i, e := range list {
			p, ok := e.(string)
			if !ok {
				return settingError(abs, key, "list element %d is not a string; quote it", i+1)
			}
			if strings.Contains(p, ",") {
				return settingError(abs, key, "list element %d %q holds a comma: a path listed here cannot hold one", i+1, p)
			}
			paths = append(paths, p)
		}
		v.Set(key, tlsctx.JoinList(paths))
	}
	return nil
}

// settingError is the error for a bad value of key: "config file F: key
// <what>", or, when the value came from the environment, "SSLD_KEY
// (overriding config file F): key <what>".
func settingError(abs, key, format string, args ...any) error {
	return fmt.Errorf("%s: %s %s", SettingSource(abs, key), key, fmt.Sprintf(format, args...))
}

// decodeError turns a decoding error of v.Unmarshal, which mapstructure
// spreads over several lines ("decoding failed due to the following
// error(s):", a blank line, one "'key' reason" line per bad value), into one
// line that names each bad key with its source, line and reason, joined by
// "; ". No reason quotes the value: it may be a password.
func decodeError(abs string, shape *configShape, err error) error {
	var parts []string
	var walk func(error)
	walk = func(e error) {
		if de, ok := e.(*mapstructure.DecodeError); ok {
			src := SettingSource(abs, de.Name())
			if !strings.HasPrefix(src, "SSLD_") {
				src = atLine(abs, shape.line(de.Name()))
			}
			parts = append(parts, fmt.Sprintf("%s: %s: %s", src, de.Name(), decodeReason(de.Unwrap())))
			return
		}
		switch x := e.(type) {
		case interface{ Unwrap() []error }:
			for _, c := range x.Unwrap() {
				walk(c)
			}
		case interface{ Unwrap() error }:
			walk(x.Unwrap())
		}
	}
	walk(err)
	if len(parts) == 0 {
		return fmt.Errorf("config file %s: %s", abs, safeReason(err.Error()))
	}
	return errors.New(strings.Join(parts, "; "))
}

// decodeReason says why a value could not be decoded, naming the type it
// should have and never the value (strconv's and time's errors quote it).
func decodeReason(err error) string {
	var ns *notStringError
	var pe *mapstructure.ParseError
	var ue *mapstructure.UnconvertibleTypeError
	switch {
	case errors.As(err, &ns):
		return ns.Error()
	case errors.As(err, &pe):
		return "cannot be read as " + typeName(pe.Expected.Type())
	case errors.As(err, &ue):
		return "cannot be read as " + typeName(ue.Expected.Type())
	case strings.HasPrefix(err.Error(), "time: "):
		return "cannot be read as a duration (e.g. 10s, 5m, 72h)"
	default:
		return safeReason(err.Error())
	}
}

func typeName(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[time.Duration]():
		return "a duration (e.g. 10s, 5m, 72h)"
	case t.Kind() == reflect.Bool:
		return "a boolean (true or false)"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "a whole number"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Slice:
		return "a list"
	default:
		return "a " + t.Kind().String()
	}
}

// notStringError is a number, boolean, list or mapping where a string
// goes.
type notStringError struct{ kind string }

func (e *notStringError) Error() string {
	return fmt.Sprintf("%s where a string goes; quote the value", e.kind)
}

// strictStrings is the decode hook that refuses a value of another type
// where a string goes. viper decodes weakly: `password: 0123` would be
// "83" (YAML reads it as octal), 0x1F "31", 1e3 "1000", true "1". Strings
// are still read into numbers, booleans and durations (INI and SSLD_*
// values are all strings).
func strictStrings(from, to reflect.Type, data any) (any, error) {
	if to.Kind() != reflect.String || data == nil || from.Kind() == reflect.String {
		return data, nil
	}
	switch from.Kind() {
	case reflect.Bool:
		return nil, &notStringError{"a boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return nil, &notStringError{"a number"}
	case reflect.Slice, reflect.Array:
		return nil, &notStringError{"a list"}
	case reflect.Struct:
		if from == reflect.TypeFor[time.Time]() {
			return nil, &notStringError{"a date"} // YAML reads 2024-01-01 as one
		}
		return nil, &notStringError{"a mapping"}
	case reflect.Map:
		return nil, &notStringError{"a mapping"}
	default:
		return nil, &notStringError{"a " + from.Kind().String()}
	}
}

// parseReason is the reason of viper's ReadConfig error without the file's
// text.
func parseReason(err error) string {
	if u := errors.Unwrap(err); u != nil {
		err = u
	}
	return safeReason(err.Error())
}

// lineOf is the line a parser's error names, or 0.
func lineOf(err error) int {
	var de *toml.DecodeError
	if errors.As(err, &de) {
		l, _ := de.Position()
		return l
	}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

// SettingSource names where key's value came from: its SSLD_<KEY>
// variable when set (viper ignores empty ones), else the file.
func SettingSource(abs, key string) string {
	env := "SSLD_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
	if os.Getenv(env) != "" {
		return env + " (overriding config file " + abs + ")"
	}
	return "config file " + abs
}

// isINI reports whether path is read as my.cnf-style INI (by extension).
func isINI(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".cnf", ".ini", ".conf":
		return true
	}
	return false
}

// UnknownKeys are the keys of a YAML or TOML file that no setting reads.
func (c *File) UnknownKeys() []string { return c.unknown }

// Path is the absolute path of the file c was read from.
func (c *File) Path() string { return c.path }

// UnknownKeyWarnings names every key of the file that no setting reads.
func (c *File) UnknownKeyWarnings() []string {
	var out []string
	for _, k := range c.unknown {
		out = append(out, fmt.Sprintf("config file %s: unknown key %q is ignored", c.path, k))
	}
	return out
}

// DefaultReloadTimeout is reload_timeout's default: a reload reads a few
// small files and takes milliseconds (the torn-pair re-reads stay within
// 250 ms); one that takes 10 s is stuck, and failing it keeps the reload
// path usable.
const DefaultReloadTimeout = 10 * time.Second

// MaxFileSize bounds the config file, as tlsctx bounds TLS material.
const MaxFileSize = 1 << 20

// checkConfigMode refuses a world-writable config file, as mysqld ignores
// a world-writable my.cnf: anyone on the host could add a SUPER account or
// point ssl_key at their own key. Group-writable is left alone (a config
// management group). The mode is the target's when abs is a symlink (a
// Kubernetes ConfigMap's ..data links).
func checkConfigMode(abs string) error {
	fi, err := os.Stat(abs)
	if err != nil {
		return fmt.Errorf("config file %s: %v", abs, err)
	}
	if fi.Mode().Perm()&0o002 != 0 {
		return fmt.Errorf("config file %s: is world-writable (mode %04o): anyone on this host could change its accounts and key paths; not read (chmod o-w it)", abs, fi.Mode().Perm())
	}
	return nil
}

// secretFileWarnings warns about secret files that others can read
// (ssl_key and cluster_ssl_key are checked by tlsctx with the same rule):
// the caching_sha2_password RSA private key, with which anyone who reads
// it decrypts the passwords clients send over plain TCP. A group read bit is
// allowed (0640 with the service's group).
func secretFileWarnings(c *File) []string {
	var out []string
	// The config file itself, when it holds a secret in clear: a plain
	// password (hashes are not enough to log in with) or the key's
	// passphrase (unless it comes from SSLD_SSL_KEY_PASSPHRASE).
	var held []string
	if c.SSLKeyPassphrase != "" && !strings.HasPrefix(SettingSource(c.path, "ssl_key_passphrase"), "SSLD_") {
		held = append(held, "ssl_key_passphrase")
	}
	for _, u := range c.Users {
		if u.Password != "" {
			held = append(held, "a plain password (users: password)")
			break
		}
	}
	if fi, err := os.Stat(c.path); err == nil && len(held) > 0 && fi.Mode().Perm()&0o004 != 0 {
		out = append(out, fmt.Sprintf("config file %s holds %s and is readable by others (mode %04o); chmod o-r it, or use password_hash (ssld passwd)",
			c.path, strings.Join(held, " and "), fi.Mode().Perm()))
	}
	for _, f := range []struct{ key, path string }{
		{"caching_sha2_password_private_key_path", c.SHA2PrivateKeyPath},
	} {
		if f.path == "" {
			continue
		}
		fi, err := os.Stat(f.path)
		if err != nil || fi.Mode().Perm()&0o007 == 0 {
			continue // a missing key is reported where it is loaded
		}
		out = append(out, fmt.Sprintf("%s %q is readable by others (mode %04o); chmod o-rwx it (0600, or 0640 with the group ssld runs as)", f.key, f.path, fi.Mode().Perm()))
	}
	return out
}

// readConfigFile reads the config file through tlsctx.ReadRegularFile and
// names the file in every error.
func readConfigFile(abs string) ([]byte, error) {
	raw, err := tlsctx.ReadRegularFile(abs, MaxFileSize)
	var nr *tlsctx.NotRegularError
	switch {
	case err == nil:
		return raw, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("config file %s: does not exist", abs)
	case errors.Is(err, syscall.EISDIR):
		return nil, fmt.Errorf("config file %s: is a directory", abs)
	case errors.As(err, &nr):
		return nil, fmt.Errorf("config file %s: %s; only a regular file is read", abs, strings.TrimPrefix(nr.Error(), abs+": "))
	default:
		return nil, fmt.Errorf("config file %s: %w", abs, err)
	}
}

// tlsSettings is the part of the config that tlsctx reloads.
func (c *File) TLSSettings() tlsctx.Settings {
	return tlsctx.Settings{
		SSLCert: c.SSLCert, SSLKey: c.SSLKey, SSLKeyPassphrase: c.SSLKeyPassphrase,
		SSLCA: c.SSLCA, SSLCAPath: c.SSLCAPath,
		ClusterSSLCert: c.ClusterSSLCert, ClusterSSLKey: c.ClusterSSLKey,
		ClusterSSLCA: c.ClusterSSLCA, ClusterSSLCAPath: c.ClusterSSLCAPath,
		TLSVersion: c.TLSVersion, SSLCipher: c.SSLCipher, TLSCipherSuites: c.TLSCipherSuites, SSLGroups: c.SSLGroups,
		ClusterTLSVersion: c.ClusterTLSVersion, ClusterSSLCipher: c.ClusterSSLCipher,
		ClusterTLSCipherSuites: c.ClusterTLSCipherSuites, ClusterSSLGroups: c.ClusterSSLGroups,
		SSLCRL: c.SSLCRL, SSLCRLPath: c.SSLCRLPath, ClusterSSLCRL: c.ClusterSSLCRL, ClusterSSLCRLPath: c.ClusterSSLCRLPath,
		CRLStale: c.SSLCRLStale, ExpiryWarning: c.SSLExpiryWarning,
		AllowIdentityChange: c.AllowIdentityChange, CloseUntrustedSessions: c.CloseUntrustedSessions, CAOverlap: c.CAOverlap,
		Cluster: clusterServed(c.ClusterListen),
	}
}

// clusterServed is ssld's rule for the cluster channel: it exists where
// cluster_listen serves it, and nowhere else (cluster_ssl_* alone do not
// make it: there is no listener to serve it on).
func clusterServed(clusterListen string) tlsctx.ClusterMode {
	if clusterListen == "" {
		return tlsctx.ClusterOff
	}
	return tlsctx.ClusterOn
}

// protocolConfig is the part of the config the listeners use (startup only).
func (c *File) ProtocolConfig(version string) protocol.Config {
	return protocol.Config{
		Listen: c.Listen, Socket: c.Socket, ClusterListen: c.ClusterListen,
		Users: c.ProtocolUsers(), RequireSecureTransport: c.RequireSecureTransport,
		MaxConnections: c.MaxConnections, ConnectTimeout: c.ConnectTimeout, MaxAllowedPacket: c.MaxAllowedPacket,
		ReadTimeout: c.ReadTimeout, WriteTimeout: c.WriteTimeout, ServerVersion: version,
	}
}

// protocolUsers is users: as the protocol layer takes it.
func (c *File) ProtocolUsers() []protocol.User {
	users := make([]protocol.User, 0, len(c.Users))
	for _, u := range c.Users {
		users = append(users, protocol.User{Name: u.Name, PasswordHash: u.PasswordHash, Password: u.Password,
			Plugin: u.Plugin, Privileges: u.Privileges, RequireSSL: u.RequireSSL, RequireX509: u.RequireX509})
	}
	return users
}

// Source is the tlsctx.Source of ssld: every Load rereads the config
// file, as SingleStore's SSL_RELOAD rereads its config. The listen address
// given on the command line (if any) overrides the file, at every load, so
// it never looks like a restart-only change.
//
// It is a tlsctx.WarningSource: every load compares the whole file with
// the configuration the process runs on (running) and names each changed
// start-up-only key in a warning, and warns about require_x509 accounts
// that cannot log in because no CA is configured. running is nil for
// `ssld check`, which has no process to compare with.
//
// Decoding through viper is a good part of a reload's CPU, so when the
// file's bytes are the same as at the last successful load, the config
// decoded then is reused (the environment is the process's own and does
// not change). Load is called under tlsctx's reload lock; the mutex keeps
// FLUSH PRIVILEGES (setRunningUsers) and the race detector honest.
type Source struct {
	path           string
	listenOverride string
	socketOverride string

	mu      sync.Mutex
	running *File // what the process applied at start-up (users: after FLUSH PRIVILEGES)
	lastRaw []byte
	lastCfg *File

	parse func(context.Context, string) (*File, error) // nil: parseConfig; a test's seam

	// onEMFILE is called when reading the file fails for lack of
	// descriptors (a connection flood); true means descriptors were freed
	// and the read is tried once more. nil for `ssld check`.
	onEMFILE func() bool

	// anyIdentity turns the identity guard off (ssld serve --dev, whose
	// generated certificate is nobody's identity).
	anyIdentity bool
}

// SourceOptions are NewSource's: what a running node adds to the file.
type SourceOptions struct {
	// Running is the config the process applied at start-up; each load is
	// compared with it and every changed start-up-only key named in a
	// warning. nil (`ssld check`) compares with nothing.
	Running *File
	// ListenOverride and SocketOverride are --listen and --socket: they
	// win over the file at every load.
	ListenOverride, SocketOverride string
	// OnEMFILE frees descriptors for a read that found none left and
	// reports whether it did (the read is then tried once more).
	OnEMFILE func() bool
	// AnyIdentity turns the identity guard off (ssld serve --dev).
	AnyIdentity bool
}

// NewSource is the tlsctx.Source that rereads the config file at path.
func NewSource(path string, o SourceOptions) *Source {
	return &Source{path: path, listenOverride: o.ListenOverride, socketOverride: o.SocketOverride,
		running: o.Running, onEMFILE: o.OnEMFILE, anyIdentity: o.AnyIdentity}
}

// Load implements tlsctx.Source.
func (s *Source) Load(ctx context.Context) (tlsctx.Settings, error) {
	st, _, err := s.LoadWithWarnings(ctx)
	return st, err
}

// LoadWithWarnings implements tlsctx.WarningSource.
func (s *Source) LoadWithWarnings(ctx context.Context) (tlsctx.Settings, []string, error) {
	c, err := s.config(ctx)
	if err != nil {
		return tlsctx.Settings{}, nil, err
	}
	st := c.TLSSettings()
	if s.anyIdentity {
		st.AllowIdentityChange = true
	}
	s.mu.Lock()
	running := s.running
	s.mu.Unlock()
	if running != nil {
		// The listeners stay where they were bound: a changed listen or
		// cluster_listen is named in a warning (startupChanges) and the
		// reload applies the TLS material, as MySQL's reload ignores a
		// changed port. Whether the cluster channel is served follows the
		// listener the process has, not the file: adding or removing
		// cluster_listen is a restart (tlsctx refuses the channel going).
		st.Cluster = clusterServed(running.ClusterListen)
	}
	return st, s.warnings(running, c), nil
}

// config returns the file's config, decoded anew only when its bytes
// changed since the last successful decode. It returns when ctx is done
// even if the parse has not finished (see loadConfigContext).
func (s *Source) config(ctx context.Context) (*File, error) {
	s.mu.Lock()
	parse := s.parse
	s.mu.Unlock()
	if parse == nil {
		parse = parseConfig
	}
	// The comparison read runs under ctx too: a read on a hung network
	// filesystem must not keep the reload past its deadline either.
	return loadConfigContext(ctx, s.path, func(ctx context.Context, abs string) (*File, error) {
		raw, rerr := readConfigFile(abs)
		if errors.Is(rerr, syscall.EMFILE) && s.onEMFILE != nil && s.onEMFILE() {
			// Out of descriptors (a connection flood): what OnEMFILE
			// freed is this read's.
			raw, rerr = readConfigFile(abs)
		}
		s.mu.Lock()
		if rerr == nil && s.lastRaw != nil && bytes.Equal(raw, s.lastRaw) {
			c := s.lastCfg
			s.mu.Unlock()
			return c, nil
		}
		s.mu.Unlock()
		c, err := parse(ctx, abs)
		if err != nil {
			return nil, err
		}
		if rerr == nil {
			// A late parse may store its pair after a newer one: each raw
			// is stored with its own decoding, so the cache stays right.
			s.mu.Lock()
			s.lastRaw, s.lastCfg = raw, c
			s.mu.Unlock()
		}
		return c, nil
	})
}

// setRunningUsers records that users were applied (FLUSH PRIVILEGES), so
// later reloads stop warning about them.
func (s *Source) SetRunningUsers(u []User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running == nil {
		return
	}
	next := *s.running
	next.Users = u
	s.running = &next
}

// warnings are the findings about next: changed start-up-only keys
// (against running, when set) and require_x509 accounts without a CA.
func (s *Source) warnings(running, next *File) []string {
	var out []string
	if running != nil {
		out = append(out, startupChanges(running, next, s.path, s.listenOverride != "", s.socketOverride != "")...)
	}
	out = append(out, X509Warnings(next)...)
	out = append(out, secretFileWarnings(next)...)
	return out
}

// startupChanges names every start-up-only key whose value in next differs
// from running. A key given on the command line (--listen, --socket) is not
// compared: the flag wins at every load. The TLS policy (tls_version and
// the rest) is not here: tlsctx applies it on reload.
func startupChanges(running, next *File, path string, listenOverridden, socketOverridden bool) []string {
	type key struct {
		name      string
		was, now  any
		secret    bool // do not print the values
		flushable bool // FLUSH PRIVILEGES applies it
	}
	keys := []key{
		{name: "users", was: running.Users, now: next.Users, secret: true, flushable: true},
		{name: "cluster_listen", was: running.ClusterListen, now: next.ClusterListen},
		{name: "metrics_listen", was: running.MetricsListen, now: next.MetricsListen},
		{name: "role", was: running.Role, now: next.Role},
		{name: "server_version", was: running.ServerVersion, now: next.ServerVersion},
		{name: "require_secure_transport", was: running.RequireSecureTransport, now: next.RequireSecureTransport},
		{name: "watch", was: running.Watch, now: next.Watch},
		{name: "watch_recheck", was: running.WatchRecheck, now: next.WatchRecheck},
		{name: "max_connections", was: running.MaxConnections, now: next.MaxConnections},
		{name: "connect_timeout", was: running.ConnectTimeout, now: next.ConnectTimeout},
		{name: "max_allowed_packet", was: running.MaxAllowedPacket, now: next.MaxAllowedPacket},
		{name: "reload_timeout", was: running.ReloadTimeout, now: next.ReloadTimeout},
		{name: "read_timeout", was: running.ReadTimeout, now: next.ReadTimeout},
		{name: "write_timeout", was: running.WriteTimeout, now: next.WriteTimeout},
		{name: "log_level", was: running.LogLevel, now: next.LogLevel},
		{name: "log_format", was: running.LogFormat, now: next.LogFormat},
		{name: "crypto_backend", was: running.CryptoBackend, now: next.CryptoBackend},
		{name: "caching_sha2_password_private_key_path", was: running.SHA2PrivateKeyPath, now: next.SHA2PrivateKeyPath},
		{name: "caching_sha2_password_public_key_path", was: running.SHA2PublicKeyPath, now: next.SHA2PublicKeyPath},
		{name: "cluster.aggregators", was: running.Cluster.Aggregators, now: next.Cluster.Aggregators},
		{name: "cluster.leaves", was: running.Cluster.Leaves, now: next.Cluster.Leaves},
	}
	if !listenOverridden {
		keys = append(keys, key{name: "listen", was: running.Listen, now: next.Listen})
	}
	if !socketOverridden {
		keys = append(keys, key{name: "socket", was: running.Socket, now: next.Socket})
	}
	var out []string
	for _, k := range keys {
		if reflect.DeepEqual(k.was, k.now) || (isEmptyList(k.was) && isEmptyList(k.now)) {
			continue
		}
		what := fmt.Sprintf("%s changed in %s", k.name, path)
		if !k.secret {
			what = fmt.Sprintf("%s changed from %v to %v in %s", k.name, k.was, k.now, path)
		}
		how := "restart ssld to apply it"
		if k.flushable {
			how = "run FLUSH PRIVILEGES (mariadb-admin reload) to apply it to new logins, or restart ssld"
		}
		out = append(out, fmt.Sprintf("%s but is read only at start-up: not applied by this reload; %s", what, how))
	}
	return out
}

func isEmptyList(v any) bool {
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Slice && rv.Len() == 0
}

// X509Warnings warns about require_x509 accounts when the client channel
// has no CA: no client certificate is then requested, so they can never
// log in.
func X509Warnings(c *File) []string {
	if c.SSLCA != "" || c.SSLCAPath != "" {
		return nil
	}
	var out []string
	for _, u := range c.Users {
		if u.RequireX509 {
			out = append(out, fmt.Sprintf("users: %q has require_x509 but neither ssl_ca nor ssl_capath is set in %s: no client certificate is requested, so this account cannot log in", u.Name, c.path))
		}
	}
	return out
}
