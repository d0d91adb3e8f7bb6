package config

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
)

// Password, CA, client certificate and key files are rotated in place
// (Kubernetes Secrets, systemd LoadCredential=, certbot hooks) without a
// reload: RefreshFiles re-reads them, and a module swaps what it built from
// them whole, so a probe sees either the old set or the new one. A rotated
// file that does not load (a key that does not match the certificate yet,
// a truncated PEM) is logged and the previous contents stay in use.

// maxFileBytes bounds what a rotated file may make the exporter read.
const maxFileBytes = 1 << 20

// liveFiles is what a module built from its TLS files.
type liveFiles struct {
	tls atomic.Pointer[tlsFiles]

	mu   sync.Mutex        // serialises refreshes
	seen map[string][]byte // each file's contents last read, used or refused
	errs map[string]string // each file's last read error, logged once
}

type tlsFiles struct {
	client *tls.Config
	roots  *x509.CertPool // nil: the system pool
}

// secretCell holds a password that a rotation may replace.
type secretCell struct{ v atomic.Pointer[Secret] }

func newSecretCell(s Secret) *secretCell {
	c := &secretCell{}
	c.v.Store(&s)
	return c
}

func (c *secretCell) get() Secret { return *c.v.Load() }

// passwordFrom is a password file's contents without the trailing newline
// editors and `echo` add.
func passwordFrom(data []byte) Secret { return Secret(strings.TrimRight(string(data), "\r\n")) }

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxFileBytes)
	}
	return data, nil
}

// buildTLS makes the client config and CA pool from the contents in seen.
func (m *Module) buildTLS() (*tlsFiles, error) {
	tc := m.TLSConfig
	state := &tlsFiles{client: m.tlsBase.Clone()}
	if tc.CAFile != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(m.live.seen[tc.CAFile]) {
			return nil, fmt.Errorf("tls_config: ca_file: %s holds no PEM certificate", tc.CAFile)
		}
		state.roots = pool
	}
	if tc.CertFile != "" {
		cert, err := tls.X509KeyPair(m.live.seen[tc.CertFile], m.live.seen[tc.KeyFile])
		if err != nil {
			return nil, fmt.Errorf("tls_config: client certificate: %w", err)
		}
		state.client.Certificates = []tls.Certificate{cert}
	}
	return state, nil
}

// RefreshFiles re-reads every module's password, CA, client certificate
// and key files, and puts into use those whose contents changed. It logs
// each rotation, and each rotated file it cannot use.
func (c *Config) RefreshFiles(logger *slog.Logger) {
	for _, name := range c.ModuleNames() {
		c.Modules[name].refresh(name, logger)
	}
}

func (m *Module) refresh(name string, logger *slog.Logger) {
	l := m.live
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	tc := m.TLSConfig
	var changed []string
	for _, path := range []string{tc.CAFile, tc.CertFile, tc.KeyFile} {
		if path != "" && l.reread(path, name, logger) {
			changed = append(changed, path)
		}
	}
	if len(changed) > 0 {
		state, err := m.buildTLS()
		if err != nil {
			logger.Error("Rotated file not used; the previous contents stay in use", "module", name, "files", changed, "err", err)
		} else {
			m.live.tls.Store(state)
			logger.Info("Rotated file re-read", "module", name, "files", changed)
		}
	}
	if a := m.Auth; a != nil && a.PasswordFile != "" {
		data, err := readBounded(a.PasswordFile)
		switch {
		case err != nil:
			l.logReadError(a.PasswordFile, name, err, logger)
		case !bytes.Equal(data, a.seen):
			delete(l.errs, a.PasswordFile)
			a.seen = data
			if pw := passwordFrom(data); pw == "" {
				logger.Error("Rotated file not used; the previous contents stay in use", "module", name, "files", []string{a.PasswordFile},
					"err", errors.New("password_file is empty"))
			} else {
				a.password.v.Store(&pw)
				logger.Info("Rotated file re-read", "module", name, "files", []string{a.PasswordFile})
			}
		}
	}
}

// reread reads one file and reports whether its contents changed.
func (l *liveFiles) reread(path, module string, logger *slog.Logger) bool {
	data, err := readBounded(path)
	if err != nil {
		l.logReadError(path, module, err, logger)
		return false
	}
	delete(l.errs, path)
	if bytes.Equal(data, l.seen[path]) {
		return false
	}
	l.seen[path] = data
	return true
}

// logReadError logs a file that cannot be read, once until it changes: a
// file replaced by a rename may be missing for a moment.
func (l *liveFiles) logReadError(path, module string, err error, logger *slog.Logger) {
	if l.errs[path] == err.Error() {
		return
	}
	l.errs[path] = err.Error()
	logger.Warn("Cannot re-read file; the previous contents stay in use", "module", module, "file", path, "err", err)
}
