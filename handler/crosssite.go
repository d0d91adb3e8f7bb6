package handler

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// RefusedCrossSite labels /probe requests refused because a browser sent
// them on behalf of another site (HTTP 403).
const RefusedCrossSite = "cross_site"

// crossSite says why a request came from a page of another site, nil when
// it did not. Whoever can reach the exporter can make it probe, and a
// browser inside the network reaches it for any page it opens: without
// this, a page on the internet could have its visitors' browsers fire
// probes (or reloads) with an <img> or a fetch. Prometheus, curl and other
// programs send neither header and are never refused.
//
// Sec-Fetch-Site is the browser's own verdict (every current browser sends
// it): cross-site is refused, except a navigation a person started by a
// click (Sec-Fetch-Mode navigate with Sec-Fetch-User ?1), the way a
// SameSite=Lax cookie still goes with a clicked link: the dashboards link
// to /probe?debug=true, and a page cannot click for its visitor, nor do it
// unseen or in bulk. allowNavigation is false for /-/reload. Origin, sent
// by browsers with every cross-origin fetch and POST, must name the host
// the request was sent to, unless Sec-Fetch-Site says same-origin or none
// (a proxy in front may have changed Host; the browser knows better).
func crossSite(r *http.Request, allowNavigation bool) error {
	site := r.Header.Get("Sec-Fetch-Site")
	switch site {
	case "same-origin", "none":
		return nil
	case "cross-site":
		if allowNavigation && r.Header.Get("Sec-Fetch-Mode") == "navigate" && r.Header.Get("Sec-Fetch-User") == "?1" &&
			(r.Method == http.MethodGet || r.Method == http.MethodHead) {
			return nil
		}
		return errors.New("cross-site request refused: a page of another site may not make this exporter probe or reload (open the URL directly instead)")
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	if u, err := url.Parse(origin); err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) {
		return nil
	}
	return errors.New("cross-origin request refused: the Origin header names another site than this exporter (open the URL directly instead)")
}

// RefuseCrossSite answers 403 to requests a page of another site made a
// browser send (see crossSite), and passes the others to next. It guards
// /-/reload; /probe checks for itself, to count the refusals.
func RefuseCrossSite(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := crossSite(r, false); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}
