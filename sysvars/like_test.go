package sysvars

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestLike(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		s       string
		want    bool
	}{
		{"exact", "ssl_cert", "ssl_cert", true},
		{"case-insensitive", "SSL_Cert", "ssl_cert", true},
		{"percent suffix", "ssl%", "ssl_cert", true},
		{"percent prefix", "%cert", "cluster_ssl_cert", true},
		{"percent middle", "ssl%time", "ssl_last_reload_attempt_time", true},
		{"percent matches empty", "ssl_cert%", "ssl_cert", true},
		{"only percent", "%", "anything", true},
		{"percent matches empty string", "%", "", true},
		{"empty pattern matches empty", "", "", true},
		{"empty pattern no match", "", "x", false},
		{"underscore one char", "ssl_ca", "sslXca", true},
		{"underscore needs a char", "ssl_ca_", "ssl_ca", false},
		{"escaped underscore literal", `ssl\_ca`, "ssl_ca", true},
		{"escaped underscore rejects other", `ssl\_ca`, "sslXca", false},
		{"escaped percent", `100\%`, "100%", true},
		{"escaped percent literal only", `100\%`, "1000", false},
		{"trailing backslash is literal", `a\`, `a\`, true},
		{"no match", "tls%", "ssl_cert", false},
		{"longer pattern", "ssl_cert_x", "ssl_cert", false},
		{"multiple percents", "%ssl%reload%", "ssl_last_reload_error", true},
		{"backtracking", "%a%b", "aaab", true},
		{"backtracking fail", "%a%b", "aaac", false},
		{"unicode", "ä_", "ÄB", true},
		{"pathological", "%a%a%a%a%a%a%a%a%b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Like(tc.pattern, tc.s), "Like(%q, %q)", tc.pattern, tc.s)
		})
	}
}
