package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/promgate/promgate/internal/datasource"
	"github.com/promgate/promgate/internal/manage"
	"github.com/promgate/promgate/internal/secrets"
	"github.com/promgate/promgate/internal/store"
)

// AdminConfig is what `promgate admin` is told: where the store and the
// secret key are, as for serve (Config's fields of the same names).
type AdminConfig struct {
	DataDir       string
	StoreURL      string // postgres://...; empty: SQLite in DataDir
	SecretKeyFile string // empty: <DataDir>/secret.key
	// DataSources opens the secret key too, which the data source commands
	// need and the user and credential commands do not: those never create
	// a key file.
	DataSources bool
	Logger      *slog.Logger
}

// Admin is the management service of a store, without a server: what
// `promgate admin` changes users, credentials and data sources through.
type Admin struct {
	Store  store.Store
	Manage *manage.Manager
	// KeyFile is the secret key file used, and KeyCreated says it was
	// created now (the server must be given the same file).
	KeyFile    string
	KeyCreated bool
}

// Close closes the store.
func (a *Admin) Close() error { return a.Store.Close() }

// OpenAdmin opens the store serve uses, through the same steps as New
// (store, secret key, manager), for a command that changes it while the
// server may be running: the server notices through store.Generation.
func OpenAdmin(ctx context.Context, cfg AdminConfig) (_ *Admin, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := checkAdminDataDir(cfg.DataDir, cfg.StoreURL); err != nil {
		return nil, err
	}
	if cfg.StoreURL != "" {
		if err := checkStoreBeforeOpen(Config{StoreURL: cfg.StoreURL}, nil); err != nil {
			return nil, err
		}
	}
	st, err := openStore(ctx, cfg.StoreURL, cfg.DataDir, cfg.Logger)
	if err != nil {
		return nil, err
	}
	a := &Admin{Store: st}
	defer func() {
		if err != nil {
			_ = st.Close()
		}
	}()
	opts := manage.Options{Store: st, Logger: cfg.Logger}
	if cfg.DataSources {
		k, err := openSecretKey(ctx, st, cfg.DataDir, cfg.SecretKeyFile)
		if err != nil {
			return nil, err
		}
		a.KeyFile, a.KeyCreated, opts.Codec = k.file, k.created, k.codec
	}
	a.Manage = manage.New(opts)
	return a, nil
}

// checkAdminDataDir refuses a SQLite data dir that does not exist: opening
// it would create an empty store the running server never reads (the usual
// cause is running admin from another directory than serve's ./data).
func checkAdminDataDir(dataDir, storeURL string) error {
	if storeURL != "" {
		return nil
	}
	if _, err := os.Stat(dataDir); errors.Is(err, os.ErrNotExist) {
		abs, aerr := filepath.Abs(dataDir)
		if aerr != nil {
			abs = dataDir
		}
		return fmt.Errorf("data dir %s (%s) does not exist: give the --data-dir (or PROMGATE_DATA_DIR) that promgate serve uses; its default ./data is relative to where serve was started (mkdir it first to set up a store before the first serve)", dataDir, abs)
	}
	return nil
}

// secretKey is the opened key that seals data source secrets.
type secretKey struct {
	file    string
	created bool
	codec   *datasource.Codec
}

// openSecretKey loads the secret key file (default <dataDir>/secret.key),
// creating it only while the store holds no secret sealed with a lost one.
func openSecretKey(ctx context.Context, st store.Store, dataDir, keyFile string) (secretKey, error) {
	if keyFile == "" {
		keyFile = filepath.Join(dataDir, secrets.DefaultFileName)
	}
	if err := keyNotLost(ctx, st, keyFile); err != nil {
		return secretKey{}, err
	}
	box, created, err := secrets.LoadOrCreate(keyFile)
	if err != nil {
		return secretKey{}, fmt.Errorf("data source secret key: %w: check --secret-key-file (default <data-dir>/%s)", err, secrets.DefaultFileName)
	}
	return secretKey{file: keyFile, created: created, codec: datasource.NewCodec(box)}, nil
}
