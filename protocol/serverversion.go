package protocol

import "fmt"

// maxServerVersionLen is MySQL's SERVER_VERSION_LENGTH: clients copy the
// greeting's version into a buffer of this size.
const maxServerVersionLen = 60

// CheckServerVersion reports why v cannot be the version string of the
// greeting (and @@version), or nil. It must be printable ASCII of at most
// 60 bytes: clients read it up to its NUL terminator and parse the leading
// numbers (MariaDB's connectors turn on their zero-configuration TLS
// check, certproof.go, for "11.4.1-MariaDB" or later).
func CheckServerVersion(v string) error {
	if v == "" {
		return fmt.Errorf("must not be empty")
	}
	if len(v) > maxServerVersionLen {
		return fmt.Errorf("is %d bytes long, at most %d are allowed", len(v), maxServerVersionLen)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return fmt.Errorf("byte %d is not printable ASCII", i+1)
		}
	}
	if v[0] < '0' || v[0] > '9' {
		return fmt.Errorf("must start with the version number (as 8.0.35-ssld or 11.4.5-MariaDB-ssld)")
	}
	return nil
}
