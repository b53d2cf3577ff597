package config

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/viper"
	"gopkg.in/ini.v1"
)

// iniCodec reads my.cnf-style files:
//
//	# [ssld], or [mysqld], or keys before any section
//	[ssld]
//	# dashes and underscores are the same, as in MySQL
//	ssl-cert = certs/server.crt
//	cluster_aggregators = 10.0.0.1:3307
//	cluster_leaves = 10.0.0.2:3307,10.0.0.3:3307
//
//	[user admin]
//	password_hash = *6BB4...
//	privileges = SUPER
//	require_ssl = true
//
// Other sections ([client], [mysql], ...) are ignored, so one file can serve
// both the daemon and the mysql client.
type iniCodec struct{}

func codecs() *viper.DefaultCodecRegistry {
	r := viper.NewCodecRegistry()
	_ = r.RegisterCodec("ini", iniCodec{})
	return r
}

func (iniCodec) Encode(map[string]any) ([]byte, error) {
	return nil, errors.New("writing INI is not supported")
}

func (iniCodec) Decode(b []byte, v map[string]any) error {
	f, err := ini.LoadSources(ini.LoadOptions{AllowBooleanKeys: true, SkipUnrecognizableLines: false}, bytes.NewReader(b))
	if err != nil {
		return &iniSyntaxError{err}
	}
	var users []any
	cluster := map[string]any{}
	read := false      // a section ssld reads has keys, or a [user NAME] exists
	var other []string // the sections it ignores
	for _, sec := range f.Sections() {
		name := strings.ToLower(sec.Name())
		if strings.Contains(name, "]") {
			// go-ini ends a header at its last "]": "[ssld] # see [client]"
			// is a section named `ssld] # see [client`, silently ignored.
			return fmt.Errorf("section header [%s]: a comment after a section header must not contain \"]\"; put it on a line of its own", sec.Name())
		}
		switch {
		case sec.Name() == ini.DefaultSection || name == "ssld" || name == "mysqld":
			read = read || len(sec.Keys()) > 0
			for _, k := range sec.Keys() {
				key := strings.ReplaceAll(strings.ToLower(k.Name()), "-", "_")
				switch key {
				case "cluster_aggregators":
					cluster["aggregators"] = splitList(k.String())
				case "cluster_leaves":
					cluster["leaves"] = splitList(k.String())
				default:
					v[key] = k.String()
				}
			}
		case strings.HasPrefix(name, "user "):
			u := map[string]any{"name": strings.TrimSpace(sec.Name()[len("user "):])}
			for _, k := range sec.Keys() {
				key := strings.ReplaceAll(strings.ToLower(k.Name()), "-", "_")
				if key == "privileges" {
					u[key] = splitList(k.String())
				} else {
					u[key] = k.String()
				}
			}
			users = append(users, u)
			read = true
		default:
			other = append(other, "["+sec.Name()+"]")
		}
	}
	// A file whose settings all sit in sections ssld ignores would start a
	// node on defaults alone (no TLS), as when a comment after [ssld]
	// holds a "]" and the section name swallows it: say so instead.
	if !read && len(other) > 0 {
		return fmt.Errorf("no [ssld] or [mysqld] section (and no [user NAME]); ignored sections: %s", strings.Join(other, ", "))
	}
	if len(users) > 0 {
		v["users"] = users
	}
	if len(cluster) > 0 {
		v["cluster"] = cluster
	}
	return nil
}

// iniSyntaxError is go-ini's error, which quotes the offending line (a
// password, maybe): shown only through safeReason.
type iniSyntaxError struct{ err error }

func (e *iniSyntaxError) Error() string { return e.err.Error() }

func splitList(s string) []any {
	var out []any
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
