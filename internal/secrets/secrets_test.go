package secrets

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestLoadOrCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", DefaultFileName)
	box, created, err := LoadOrCreate(path)
	if err != nil || !created {
		t.Fatalf("first LoadOrCreate: created=%v err=%v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	sealed, err := box.Seal([]byte("hunter2"), []byte("ctx"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("hunter2")) {
		t.Fatal("sealed value contains the plaintext")
	}
	again, created, err := LoadOrCreate(path)
	if err != nil || created {
		t.Fatalf("second LoadOrCreate: created=%v err=%v", created, err)
	}
	plain, err := again.Open(sealed, []byte("ctx"))
	if err != nil || string(plain) != "hunter2" {
		t.Fatalf("Open with reloaded key = %q, %v", plain, err)
	}
}

func TestConcurrentCreateAgrees(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFileName)
	const n = 8
	boxes := make([]*Box, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, _, err := LoadOrCreate(path)
			if err != nil {
				t.Error(err)
			}
			boxes[i] = b
		}()
	}
	wg.Wait()
	sealed, err := boxes[0].Seal([]byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range boxes {
		if b == nil {
			continue
		}
		if _, err := b.Open(sealed, nil); err != nil {
			t.Errorf("box %d has another key: %v", i, err)
		}
	}
}

func TestOpenRefuses(t *testing.T) {
	box, err := New(bytes.Repeat([]byte{7}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	other, err := New(bytes.Repeat([]byte{8}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := box.Seal([]byte("secret"), []byte("uid\x00http://a"))
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	cases := []struct {
		name   string
		box    *Box
		sealed []byte
		aad    string
	}{
		{"wrong key", other, sealed, "uid\x00http://a"},
		{"other context", box, sealed, "uid\x00http://evil"},
		{"tampered", box, flipped, "uid\x00http://a"},
		{"truncated", box, sealed[:10], "uid\x00http://a"},
		{"empty", box, nil, "uid\x00http://a"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.box.Open(tc.sealed, []byte(tc.aad)); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("Open = %v, want ErrDecrypt", err)
			}
		})
	}
}

func TestLoadFormats(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name    string
		content []byte
		ok      bool
	}{
		{"hex with newline", []byte("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"), true},
		{"raw 32 bytes", bytes.Repeat([]byte{0xff}, 32), true},
		{"short hex", []byte("0011"), false},
		{"not hex", bytes.Repeat([]byte("z"), 64), false},
		{"empty", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			if err := os.WriteFile(p, tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(p)
			if (err == nil) != tc.ok {
				t.Fatalf("Load = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
