package handler

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHealthy(t *testing.T) {
	rec := httptest.NewRecorder()
	Healthy(rec, httptest.NewRequest(http.MethodGet, "/-/healthy", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "Healthy\n" {
		t.Errorf("%d %q", rec.Code, rec.Body.String())
	}
}

func TestShowConfigHidesSecrets(t *testing.T) {
	const filePassword, envPassword = "File-Secret-5150", "Env-Secret-8086"
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "password")
	if err := os.WriteFile(pwFile, []byte(filePassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SMTP_EXPORTER_HANDLER_TEST_PASSWORD", envPassword)
	sc := loadConfig(t, `
modules:
  submission:
    tls: starttls
    tls_config: {server_name: smtp.example.net}
    auth: {username: monitor, password_file: `+pwFile+`}
  smtps:
    tls: implicit
    tls_config: {server_name: smtp.example.net}
    auth: {username: other, password_env: SMTP_EXPORTER_HANDLER_TEST_PASSWORD}
`)
	if sc.Get().Modules["submission"].Auth.Password().Reveal() != filePassword {
		t.Fatal("the password was not loaded: the test would prove nothing")
	}
	rec := httptest.NewRecorder()
	ShowConfig(sc)(rec, httptest.NewRequest(http.MethodGet, "/config", nil))
	body := rec.Body.String()
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, body)
	}
	for _, secret := range []string{filePassword, envPassword} {
		if strings.Contains(body, secret) {
			t.Errorf("/config shows a password:\n%s", body)
		}
	}
	for _, want := range []string{"submission:", "username: monitor", "password_file: " + pwFile, "password_env: SMTP_EXPORTER_HANDLER_TEST_PASSWORD", "tls: implicit"} {
		if !strings.Contains(body, want) {
			t.Errorf("/config lacks %q:\n%s", want, body)
		}
	}
}

func TestReload(t *testing.T) {
	cases := []struct {
		method   string
		err      error
		wantCode int
		wantBody string
		reloads  int
	}{
		{http.MethodGet, nil, http.StatusMethodNotAllowed, "/-/reload needs POST (or PUT)\n", 0},
		{http.MethodHead, nil, http.StatusMethodNotAllowed, "/-/reload needs POST (or PUT)\n", 0},
		{http.MethodDelete, nil, http.StatusMethodNotAllowed, "/-/reload needs POST (or PUT)\n", 0},
		{http.MethodPost, nil, http.StatusOK, "Config reloaded\n", 1},
		{http.MethodPut, nil, http.StatusOK, "Config reloaded\n", 1},
		{
			http.MethodPost, errors.New(`loading c.yml: module "m": unknown field "bogus" (line 3)`), http.StatusInternalServerError,
			"failed to reload config, keeping the previous one: loading c.yml: module \"m\": unknown field \"bogus\" (line 3)\n", 1,
		},
	}
	for _, tc := range cases {
		reloads := 0
		h := Reload(func() error { reloads++; return tc.err })
		rec := httptest.NewRecorder()
		h(rec, httptest.NewRequest(tc.method, "/-/reload", nil))
		if rec.Code != tc.wantCode || rec.Body.String() != tc.wantBody || reloads != tc.reloads {
			t.Errorf("%s (reload error %v): %d %q after %d reloads; want %d %q after %d",
				tc.method, tc.err, rec.Code, rec.Body.String(), reloads, tc.wantCode, tc.wantBody, tc.reloads)
		}
		if tc.wantCode == http.StatusMethodNotAllowed && rec.Header().Get("Allow") != "POST, PUT" {
			t.Errorf("%s: Allow %q", tc.method, rec.Header().Get("Allow"))
		}
	}
}
