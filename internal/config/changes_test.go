package config

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestEveryKeyReloadsOrWarns: each config key is applied by a reload
// (the TLS material), refused by it (restart required, in tlsctx), or
// named in a warning when it changed. A key added to File without
// a place in one of these lists fails here, so no edit is ever silently
// ignored.
func TestEveryKeyReloadsOrWarns(t *testing.T) {
	reloaded := map[string]bool{"ssl_cert": true, "ssl_key": true, "ssl_key_passphrase": true, "ssl_ca": true,
		"ssl_capath": true, "cluster_ssl_cert": true, "cluster_ssl_key": true, "cluster_ssl_ca": true,
		"cluster_ssl_capath": true, "ssl_expiry_warning": true,
		"tls_version": true, "ssl_cipher": true, "tls_ciphersuites": true, "ssl_groups": true,
		"cluster_tls_version": true, "cluster_ssl_cipher": true, "cluster_tls_ciphersuites": true, "cluster_ssl_groups": true,
		"ssl_crl": true, "ssl_crlpath": true, "cluster_ssl_crl": true, "cluster_ssl_crlpath": true, "ssl_crl_stale": true,
		"ssl_allow_identity_change": true, "ssl_close_untrusted_sessions": true, "ssl_ca_overlap": true}
	restart := map[string]bool{}

	var visit func(prefix string, rt reflect.Type, get func(*File) reflect.Value)
	visit = func(prefix string, rt reflect.Type, get func(*File) reflect.Value) {
		for i := range rt.NumField() {
			f := rt.Field(i)
			tag := f.Tag.Get("mapstructure")
			if tag == "" {
				continue // path: not a key
			}
			name := prefix + tag
			idx := i
			field := func(c *File) reflect.Value { return get(c).Field(idx) }
			if f.Type.Kind() == reflect.Struct {
				visit(name+".", f.Type, field)
				continue
			}
			t.Run(name, func(t *testing.T) {
				if reloaded[name] || restart[name] {
					return
				}
				running := &File{}
				next := &File{}
				change(t, field(next))
				ws := startupChanges(running, next, "/etc/ssld/ssld.yaml", false, false)
				if assert.Len(t, ws, 1, "a change of %s must be applied, refused or warned about", name) {
					assert.True(t, strings.HasPrefix(ws[0], name+" changed "), ws[0])
					assert.Contains(t, ws[0], "not applied by this reload")
				}
			})
		}
	}
	visit("", reflect.TypeOf(File{}), func(c *File) reflect.Value { return reflect.ValueOf(c).Elem() })
}

// change sets v to a non-zero value.
func change(t *testing.T, v reflect.Value) {
	switch {
	case v.Type() == reflect.TypeOf(time.Duration(0)):
		v.SetInt(int64(time.Second))
	case v.Kind() == reflect.String:
		v.SetString("changed")
	case v.Kind() == reflect.Bool:
		v.SetBool(true)
	case v.Kind() == reflect.Int || v.Kind() == reflect.Int64:
		v.SetInt(7)
	case v.Kind() == reflect.Slice:
		v.Set(reflect.Append(v, reflect.New(v.Type().Elem()).Elem()))
	default:
		t.Fatalf("no way to change a %s", v.Type())
	}
}
