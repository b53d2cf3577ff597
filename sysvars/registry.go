// Package sysvars holds ssld's system variables: their names, scopes, kinds,
// whether they are read-only, and a value function that is evaluated on every
// read. Values are never copied into the registry: TLS variables read the live
// tlsctx snapshot each time, so after a failed reload they still describe what
// is being served (the setting variables, with WithConfigured, read what the
// config file held at the last reload attempt).
//
// A Registry is built once in main (see AddTLS and AddServer) and passed to the
// SQL layer; there is no package-level singleton.
package sysvars

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Scope says where a variable lives, as in MySQL's SHOW GLOBAL / SESSION.
type Scope uint8

const (
	// ScopeGlobal variables exist once per server (SET SESSION is refused).
	ScopeGlobal Scope = iota
	// ScopeSession variables exist only per connection.
	ScopeSession
	// ScopeBoth variables have a global default that a session may override.
	ScopeBoth
)

// String returns "GLOBAL", "SESSION" or "GLOBAL|SESSION".
func (s Scope) String() string {
	switch s {
	case ScopeGlobal:
		return "GLOBAL"
	case ScopeSession:
		return "SESSION"
	case ScopeBoth:
		return "GLOBAL|SESSION"
	}
	return fmt.Sprintf("Scope(%d)", uint8(s))
}

// Kind is the SQL type a variable has when selected with SELECT @@name.
// SHOW VARIABLES always renders values as strings.
type Kind uint8

const (
	// KindString values are returned as VARCHAR.
	KindString Kind = iota
	// KindInt values are decimal integers, returned as BIGINT.
	KindInt
	// KindBool values are "ON" or "OFF" in SHOW VARIABLES and 1/0 in SELECT @@.
	KindBool
)

// Var describes one system variable. Value is called on every read and must be
// safe for concurrent use; it must not block.
//
// ReadOnly is MySQL's read-only: every SET is 1238. A global variable that
// is not ReadOnly is one MySQL lets SET GLOBAL change (ssl_ca, tls_version,
// ...): SET SESSION of it is 1229, as in MySQL, and SET GLOBAL is refused
// by the SQL layer when ssld takes its value from the config file.
type Var struct {
	Name     string
	Scope    Scope
	Kind     Kind
	ReadOnly bool
	Value    func() string
}

// Registry is a set of variables keyed by lower-case name.
//
// Add is meant for construction in main; Get, Match and All are safe for
// concurrent use with each other and with Add.
type Registry struct {
	mu   sync.RWMutex
	vars map[string]Var
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{vars: make(map[string]Var)}
}

// Add registers v. It fails, leaving the registry unchanged, when the name is
// empty, Value is nil, or a variable with the same (case-insensitive) name
// exists.
func (r *Registry) Add(v Var) error {
	if strings.TrimSpace(v.Name) == "" {
		return errors.New("sysvars: variable without a name")
	}
	if v.Value == nil {
		return fmt.Errorf("sysvars: variable %q has no value function", v.Name)
	}
	key := strings.ToLower(v.Name)
	v.Name = key
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.vars[key]; dup {
		return fmt.Errorf("sysvars: duplicate variable %q", key)
	}
	r.vars[key] = v
	return nil
}

// addAll adds every var and stops at the first error.
func (r *Registry) addAll(vars []Var) error {
	for _, v := range vars {
		if err := r.Add(v); err != nil {
			return err
		}
	}
	return nil
}

// Get returns the variable called name (case-insensitive).
func (r *Registry) Get(name string) (Var, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	v, ok := r.vars[strings.ToLower(name)]
	return v, ok
}

// Match returns the variables whose names match the MySQL LIKE pattern
// (case-insensitive; see Like), sorted by name. An empty pattern returns all
// variables, which is what SHOW VARIABLES without LIKE needs.
func (r *Registry) Match(likePattern string) []Var {
	r.mu.RLock()
	out := make([]Var, 0, len(r.vars))
	for _, v := range r.vars {
		if likePattern == "" || Like(likePattern, v.Name) {
			out = append(out, v)
		}
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// All returns every variable, sorted by name.
func (r *Registry) All() []Var { return r.Match("") }

var errNilManager = errors.New("sysvars: nil tlsctx.Manager")
