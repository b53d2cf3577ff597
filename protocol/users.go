package protocol

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
)

// Auth plugin names a user may be configured with.
const (
	PluginNative     = "mysql_native_password"
	PluginCachingSHA = "caching_sha2_password"
)

// User is one account as configured. Exactly one of PasswordHash and Password
// is expected; Password (plain text) is meant for development and is hashed
// when the server is built, never kept.
type User struct {
	Name string
	// PasswordHash is the mysql_native_password hash: "*" followed by 40 hex
	// digits of SHA1(SHA1(password)), as MySQL's PASSWORD() printed it. A
	// caching_sha2_password account may instead have MySQL 8's
	// authentication_string ("$A$005$" + salt + SHA-256 crypt), what `ssld
	// passwd --plugin caching_sha2_password` prints.
	PasswordHash string
	// Password is a plain-text password, accepted for development only.
	Password string
	// Plugin is the authentication plugin the server asks this user's client
	// to use: mysql_native_password (default) or caching_sha2_password; or
	// unix_socket (no password: the Unix socket only, for the
	// operating-system user of the same name).
	Plugin string
	// Privileges are upper-case privilege names, e.g. "SUPER".
	Privileges []string
	// RequireSSL refuses the user over plain TCP (the Unix socket is local and
	// counts as secure, so an expired certificate cannot lock the operator out).
	RequireSSL bool
	// RequireX509 additionally requires a client certificate that verifies
	// against the client channel's CA set.
	RequireX509 bool
}

// account is a User after validation: hashes only.
type account struct {
	name        string
	plugin      string
	nativeHash  []byte         // SHA1(SHA1(password)); nil when sha2Crypt is set
	sha2Crypt   *sha2CryptHash // caching_sha2_password authentication_string, or nil
	privileges  []string
	requireSSL  bool
	requireX509 bool

	// sha2Hash is SHA256(SHA256(password)), the caching_sha2_password fast
	// path. It is known at load time only for plain-text passwords; otherwise
	// it is learnt after the first full authentication (as MySQL's cache is).
	mu       sync.Mutex
	sha2Hash []byte
}

func (a *account) cachedSHA2() []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sha2Hash
}

func (a *account) learnSHA2(password string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sha2Hash = doubleSHA256(password)
}

// checkPassword compares a plain-text password with the stored native hash
// in constant time.
func (a *account) checkPassword(password string) bool {
	if a.sha2Crypt != nil {
		return a.sha2Crypt.matches(password)
	}
	return subtle.ConstantTimeCompare(doubleSHA1(password), a.nativeHash) == 1
}

func doubleSHA1(password string) []byte {
	h1 := sha1.Sum([]byte(password))
	h2 := sha1.Sum(h1[:])
	return h2[:]
}

func doubleSHA256(password string) []byte {
	h1 := sha256.Sum256([]byte(password))
	h2 := sha256.Sum256(h1[:])
	return h2[:]
}

// NativePasswordHash returns the mysql_native_password hash of password in
// MySQL's printed form ("*" + 40 upper-case hex digits), for config files.
func NativePasswordHash(password string) string {
	return "*" + strings.ToUpper(hex.EncodeToString(doubleSHA1(password)))
}

// users is the immutable account table, keyed by name.
type users map[string]*account

// accounts holds the live account table, shared by every listener of a
// Server. Server.SetUsers swaps it whole, so a login sees the old table or
// the new one, never a mix. The zero value has no accounts.
type accounts struct{ p atomic.Pointer[users] }

func (a *accounts) get(name string) (*account, bool) {
	t := a.p.Load()
	if t == nil {
		return nil, false
	}
	acct, ok := (*t)[name]
	return acct, ok
}

// ValidateUsers checks list as Start (and SetUsers) would, without
// building a server: names, plugins and password hashes. The error names
// the entry and the reason.
func ValidateUsers(list []User) error {
	_, err := newUsers(list)
	return err
}

func newUsers(list []User) (users, error) {
	out := make(users, len(list))
	for i, u := range list {
		if u.Name == "" {
			return nil, fmt.Errorf("users[%d]: name is empty", i)
		}
		if _, dup := out[u.Name]; dup {
			return nil, fmt.Errorf("users[%d]: user %q is defined twice", i, u.Name)
		}
		a := &account{name: u.Name, requireSSL: u.RequireSSL || u.RequireX509, requireX509: u.RequireX509}
		switch strings.ToLower(u.Plugin) {
		case "", PluginNative:
			a.plugin = PluginNative
		case PluginCachingSHA:
			a.plugin = PluginCachingSHA
		case PluginUnixSocket:
			a.plugin = PluginUnixSocket
		default:
			return nil, fmt.Errorf("users[%d] (%s): plugin %q is not supported (use %s, %s or %s)", i, u.Name, u.Plugin, PluginNative, PluginCachingSHA, PluginUnixSocket)
		}
		switch {
		case a.plugin == PluginUnixSocket:
			if u.PasswordHash != "" || u.Password != "" {
				return nil, fmt.Errorf("users[%d] (%s): plugin %s accounts have no password (the peer's operating-system user must be %q); remove password/password_hash", i, u.Name, PluginUnixSocket, u.Name)
			}
		case u.PasswordHash != "" && u.Password != "":
			return nil, fmt.Errorf("users[%d] (%s): set password_hash or password, not both", i, u.Name)
		case strings.HasPrefix(u.PasswordHash, sha2CryptPrefix):
			if a.plugin != PluginCachingSHA {
				return nil, fmt.Errorf("users[%d] (%s): password_hash \"$A$...\" is a caching_sha2_password hash; set plugin: %s or use a mysql_native_password hash (\"*\" + 40 hex digits, ssld passwd)", i, u.Name, PluginCachingSHA)
			}
			h, err := parseSHA2Crypt(u.PasswordHash)
			if err != nil {
				return nil, fmt.Errorf("users[%d] (%s): password_hash: %v", i, u.Name, err)
			}
			a.sha2Crypt = h
		case u.PasswordHash != "":
			h := strings.TrimPrefix(u.PasswordHash, "*")
			raw, err := hex.DecodeString(h)
			if err != nil || len(raw) != sha1.Size || !strings.HasPrefix(u.PasswordHash, "*") {
				return nil, fmt.Errorf("users[%d] (%s): password_hash must be \"*\" followed by 40 hex digits (mysql_native_password; ssld passwd prints one)", i, u.Name)
			}
			a.nativeHash = raw
		case u.Password != "":
			a.nativeHash = doubleSHA1(u.Password)
			a.sha2Hash = doubleSHA256(u.Password)
		default:
			return nil, fmt.Errorf("users[%d] (%s): password_hash is empty; accounts without a password are not allowed", i, u.Name)
		}
		for _, p := range u.Privileges {
			a.privileges = append(a.privileges, strings.ToUpper(strings.TrimSpace(p)))
		}
		out[u.Name] = a
	}
	return out, nil
}
