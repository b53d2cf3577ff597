package protocol

import (
	"bufio"
	"reflect"
	"unsafe"

	"github.com/dolthub/vitess/go/mysql"
)

// vitess's go/mysql keeps two things unexported that ssld needs for what
// vitess does not do itself: the connection's buffered reader (to answer
// the protocol commands vitess does not dispatch, commands.go) and the
// packet sequence number (to write the caching_sha2_password exchange over
// plain TCP, sha2auth.go). Both are found here by name and type when the
// package loads; after a vitess upgrade that renames or retypes them the
// accessors return nil, the features that need them say so (1047, or
// caching_sha2_password only over TLS and the socket), and the tests that
// cover them (TestAdminCommands, TestCachingSHA2OverPlainTCP) fail.

func connField(name string, typ reflect.Type) (uintptr, bool) {
	f, ok := reflect.TypeOf((*mysql.Conn)(nil)).Elem().FieldByName(name)
	if !ok || f.Type != typ {
		return 0, false
	}
	return f.Offset, true
}

var (
	bufferedReaderOffset, bufferedReaderFound = connField("bufferedReader", reflect.TypeOf((*bufio.Reader)(nil)))
	sequenceOffset, sequenceFound             = connField("sequence", reflect.TypeOf(uint8(0)))
)

// connBufferedReader returns c's read buffer, or nil.
func connBufferedReader(c *mysql.Conn) *bufio.Reader {
	if !bufferedReaderFound {
		return nil
	}
	return *(**bufio.Reader)(unsafe.Add(unsafe.Pointer(c), bufferedReaderOffset))
}

// connSequence returns a pointer to c's next packet sequence number, or
// nil. Only c's own goroutine may use it.
func connSequence(c *mysql.Conn) *uint8 {
	if !sequenceFound {
		return nil
	}
	return (*uint8)(unsafe.Add(unsafe.Pointer(c), sequenceOffset))
}
