package protocol

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestUnixSocketAccountConfig: unix_socket accounts have no password; a
// password or hash on one is an error naming the account.
func TestUnixSocketAccountConfig(t *testing.T) {
	assert.NoError(t, ValidateUsers([]User{{Name: "root", Plugin: "unix_socket", Privileges: []string{"SUPER"}}}))
	for _, u := range []User{
		{Name: "hook", Plugin: "unix_socket", Password: "x"},
		{Name: "hook", Plugin: "unix_socket", PasswordHash: NativePasswordHash("x")},
	} {
		err := ValidateUsers([]User{u})
		if assert.Error(t, err) {
			assert.Contains(t, err.Error(), "(hook): plugin unix_socket accounts have no password")
		}
	}
}
