package prober

import (
	"bufio"
	"errors"
	"io"
	"os"
	"syscall"
	"testing"
)

// onceReader returns data, then err once, then EOF, as a socket does after
// a reset: the error must reach the caller, not the EOF behind it.
type onceReader struct {
	data []byte
	err  error
}

func (r *onceReader) Read(p []byte) (int, error) {
	if len(r.data) > 0 {
		n := copy(p, r.data)
		r.data = r.data[n:]
		return n, nil
	}
	if err := r.err; err != nil {
		r.err = nil
		return 0, err
	}
	return 0, io.EOF
}

func TestReadReplyKeepsReadErrors(t *testing.T) {
	cases := []struct {
		name string
		data string
		err  error
		want error
	}{
		{"reset before any byte", "", syscall.ECONNRESET, syscall.ECONNRESET},
		{"reset within the code", "22", syscall.ECONNRESET, syscall.ECONNRESET},
		{"reset after the code", "220 hel", syscall.ECONNRESET, syscall.ECONNRESET},
		{"deadline within the code", "2", os.ErrDeadlineExceeded, os.ErrDeadlineExceeded},
		{"end of stream within the code", "22", io.EOF, io.ErrUnexpectedEOF},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := bufio.NewReaderSize(&onceReader{data: []byte(tc.data), err: tc.err}, MaxReplyLineBytes)
			_, err := ReadReply(r, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}
