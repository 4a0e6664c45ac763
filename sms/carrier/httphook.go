package carrier

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/textback/textback/sms"
)

// httpWebhook verifies and reads a webhook of the http preset, by its
// token and its field maps: form and query parameters, or JSON paths when
// the body is JSON.
func (d *Driver) httpWebhook(kind string, r *http.Request, raw []byte) (event, *hookError) {
	if kind == "inbound" && d.s.inbound == (InboundConfig{}) || kind == "status" && d.s.status.ID == "" {
		return event{}, refuse(http.StatusNotFound, "no %s webhook configured (http.%s)", kind, kind)
	}
	if e := checkToken(r, d.s.token); e != nil {
		return event{}, e
	}
	get, herr := fields(r, raw)
	if herr != nil {
		return event{}, herr
	}
	if kind == "inbound" {
		c := d.s.inbound
		in := &sms.Inbound{Provider: d.Name(), ProviderID: get(c.ID), From: get(c.From), Body: get(c.Body)}
		if c.To != "" {
			in.To = get(c.To)
		}
		if c.AddPlus {
			in.From, in.To = addPlus(in.From), addPlus(in.To)
		}
		if in.ProviderID == "" || in.From == "" {
			return event{}, refuse(http.StatusBadRequest, "no %s or no %s", c.ID, c.From)
		}
		return event{inbound: in}, nil
	}
	c := d.s.status
	st := &sms.Status{Provider: d.Name(), ProviderID: get(c.ID), At: d.now()}
	status := get(c.Status)
	if st.ProviderID == "" || status == "" {
		return event{}, refuse(http.StatusBadRequest, "no %s or no %s", c.ID, c.Status)
	}
	if c.Code != "" {
		st.Code = get(c.Code)
	}
	switch {
	case contains(c.Delivered, status):
		st.Delivered = true
	case contains(c.Failed, status):
		st.Outcome = d.failure(st.Code)
	}
	return event{status: st}, nil
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if strings.EqualFold(s, v) {
			return true
		}
	}
	return false
}

// fields returns a lookup of the webhook's fields: JSON paths into a JSON
// body, else the form body's parameters, then the query's.
func fields(r *http.Request, raw []byte) (func(string) string, *hookError) {
	mt, _ := mediaType(r)
	if mt == "application/json" || strings.HasSuffix(mt, "+json") {
		b := &body{raw: raw}
		doc, err := b.json()
		if err != nil {
			return nil, refuse(http.StatusBadRequest, "malformed JSON: %v", err)
		}
		return func(p string) string { v, _ := lookupJSON(doc, p); return v }, nil
	}
	form := url.Values{}
	if r.Method == http.MethodPost && len(raw) > 0 {
		if mt != "application/x-www-form-urlencoded" {
			return nil, refuse(http.StatusUnsupportedMediaType, "want a form or JSON body, got %q", r.Header.Get("Content-Type"))
		}
		var err error
		if form, err = url.ParseQuery(string(raw)); err != nil {
			return nil, refuse(http.StatusBadRequest, "malformed form: %v", err)
		}
	}
	q := r.URL.Query()
	return func(name string) string {
		if v := form.Get(name); v != "" {
			return v
		}
		return q.Get(name)
	}, nil
}

// addPlus prefixes + to a number of digits only.
func addPlus(n string) string {
	if n == "" || strings.Trim(n, "0123456789") != "" {
		return n
	}
	return "+" + n
}
