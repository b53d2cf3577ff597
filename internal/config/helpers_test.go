package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// contains requires every one of subs in s.
func contains(t *testing.T, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		require.Contains(t, s, sub)
	}
}
