package handler

import (
	"fmt"
	"net/http"

	"github.com/smtp-exporter/smtp_exporter/config"
)

// Healthy answers /-/healthy: the process is up and serving.
func Healthy(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "Healthy")
}

// ShowConfig serves /config: the running configuration with secrets hidden.
func ShowConfig(sc *config.SafeConfig) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		data, err := sc.Get().Marshal()
		if err != nil {
			http.Error(w, fmt.Sprintf("rendering the config: %v", err), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(data) // a failed write means the client left: nobody to tell
	}
}

// Reload serves /-/reload: POST asks reload (which runs the reload in the
// main loop, like SIGHUP) and reports its error, if any.
func Reload(reload func() error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && r.Method != http.MethodPut {
			w.Header().Set("Allow", "POST, PUT")
			http.Error(w, "/-/reload needs POST (or PUT)", http.StatusMethodNotAllowed)
			return
		}
		if err := reload(); err != nil {
			http.Error(w, fmt.Sprintf("failed to reload config, keeping the previous one: %v", err), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "Config reloaded")
	}
}
