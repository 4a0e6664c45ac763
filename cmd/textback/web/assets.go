package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/rs/zerolog"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pages are the parsed templates, each a layout with its content.
type pages map[string]*template.Template

func parsePages(layout string, names ...string) (pages, error) {
	p := pages{}
	for _, n := range names {
		t, err := template.New(n).ParseFS(templateFS, "templates/"+layout+".html", "templates/"+n+".html")
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", n, err)
		}
		p[n] = t
	}
	return p, nil
}

// render executes a page into a buffer first, so that a template error
// is a clean 500 and not half a page.
func (p pages) render(w http.ResponseWriter, log zerolog.Logger, status int, name string, data any, script bool) {
	var b bytes.Buffer
	if err := p[name].ExecuteTemplate(&b, "layout", data); err != nil {
		log.Error().Err(err).Str("page", name).Msg("render page")
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	securityHeaders(w, script)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// serveStatic serves one embedded file with a day of caching.
func serveStatic(name, contentType string) http.HandlerFunc {
	data, err := staticFS.ReadFile("static/" + name)
	return func(w http.ResponseWriter, r *http.Request) {
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
	}
}
