package export

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// spool holds a response body to be read twice (label names first, rows
// second): in memory while small, then in an unlinked temporary file, so a
// large first chunk costs disk, not memory.
type spool struct {
	mem   []byte
	f     *os.File
	limit int
}

func newSpool(limit int) *spool { return &spool{limit: limit} }

func (s *spool) Write(p []byte) (int, error) {
	if s.f == nil && len(s.mem)+len(p) <= s.limit {
		s.mem = append(s.mem, p...)
		return len(p), nil
	}
	if s.f == nil {
		f, err := os.CreateTemp("", "promgate-export-*")
		if err != nil {
			return 0, fmt.Errorf("spooling response: %w", err)
		}
		// Unlinked at once: nothing is left behind if we are killed.
		_ = os.Remove(f.Name())
		s.f = f
		if _, err := f.Write(s.mem); err != nil {
			return 0, fmt.Errorf("spooling response: %w", err)
		}
		s.mem = nil
	}
	n, err := s.f.Write(p)
	if err != nil {
		err = fmt.Errorf("spooling response: %w", err)
	}
	return n, err
}

// reader rewinds the spool for a new pass.
func (s *spool) reader() (io.Reader, error) {
	if s.f == nil {
		return bytes.NewReader(s.mem), nil
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("rewinding spool: %w", err)
	}
	return s.f, nil
}

func (s *spool) Close() error {
	s.mem = nil
	if s.f != nil {
		return s.f.Close()
	}
	return nil
}
