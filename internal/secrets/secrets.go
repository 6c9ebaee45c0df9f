// Package secrets encrypts small values at rest (data source passwords and
// tokens) with AES-256-GCM under a 32-byte key kept in a file outside the
// database, so a copy of the database alone reveals no secret.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the key length: AES-256.
const KeySize = 32

// DefaultFileName is the key file's name in the data dir.
const DefaultFileName = "secret.key"

// version prefixes every sealed value so the format can change later.
const version byte = 1

// ErrDecrypt means a sealed value does not open with this key: a wrong key
// file, or a value that was tampered with or moved to another row.
var ErrDecrypt = errors.New("cannot decrypt: wrong secret key file or tampered value")

// Box seals and opens values with one key. Safe for concurrent use.
type Box struct {
	aead cipher.AEAD
}

// New returns a Box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secret key has %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("gcm: %w", err)
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plaintext. aad is not stored but must be given again to
// Open: it binds the value to its context (e.g. the data source's URL), so
// a value copied elsewhere in the database does not open.
func (b *Box) Seal(plaintext, aad []byte) ([]byte, error) {
	out := make([]byte, 1+b.aead.NonceSize(), 1+b.aead.NonceSize()+len(plaintext)+b.aead.Overhead())
	out[0] = version
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	return b.aead.Seal(out, out[1:], plaintext, aad), nil
}

// Open decrypts a value made by Seal with the same aad.
func (b *Box) Open(sealed, aad []byte) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < 1+n+b.aead.Overhead() || sealed[0] != version {
		return nil, ErrDecrypt
	}
	plain, err := b.aead.Open(nil, sealed[1:1+n], sealed[1+n:], aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return plain, nil
}

// LoadOrCreate reads the key file at path, or creates it (mode 0600, 64 hex
// digits) with a random key when it does not exist. created reports the
// latter. Two processes starting at once end up with the same key: the file
// appears atomically and only if absent.
func LoadOrCreate(path string) (box *Box, created bool, err error) {
	box, err = Load(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return box, false, err
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, false, fmt.Errorf("generate secret key: %w", err)
	}
	if err := writeNew(path, []byte(hex.EncodeToString(key)+"\n")); err != nil {
		if errors.Is(err, fs.ErrExist) {
			box, err = Load(path) // another process won the race
			return box, false, err
		}
		return nil, false, err
	}
	box, err = New(key)
	return box, err == nil, err
}

// Load reads a key file: 64 hex digits (surrounding whitespace ignored) or
// exactly 32 raw bytes.
func Load(path string) (*Box, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read secret key file: %w", err)
	}
	key := raw
	if len(raw) != KeySize {
		key, err = hex.DecodeString(strings.TrimSpace(string(raw)))
		if err != nil || len(key) != KeySize {
			return nil, fmt.Errorf("secret key file %s: want 64 hex digits (or 32 raw bytes)", path)
		}
	}
	return New(key)
}

// writeNew writes data to path only if path does not exist, never leaving a
// partial file: it writes a temporary file and hard-links it into place.
func writeNew(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create key dir: %w", err)
	}
	f, err := os.CreateTemp(dir, ".secret-key-*")
	if err != nil {
		return fmt.Errorf("write secret key: %w", err)
	}
	tmp := f.Name()
	defer func() { _ = os.Remove(tmp) }()
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return fmt.Errorf("write secret key: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("write secret key: %w", err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("write secret key: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write secret key: %w", err)
	}
	if err := os.Link(tmp, path); err != nil {
		return fmt.Errorf("install secret key: %w", err)
	}
	return nil
}
