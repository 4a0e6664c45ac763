package carrier

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// extractor is a compiled Extract.
type extractor struct {
	path []string       // JSON path; nil: the whole body
	re   *regexp.Regexp // nil: the value as it is
}

// compileExtract compiles x; an empty Extract gives nil.
func compileExtract(field string, x Extract) (*extractor, error) {
	if x.JSON == "" && x.Regexp == "" {
		return nil, nil
	}
	e := &extractor{}
	if x.JSON != "" {
		e.path = strings.Split(x.JSON, ".")
		if slices.Contains(e.path, "") {
			return nil, fieldErr(field+".json", "%q has an empty path element", x.JSON)
		}
	}
	if x.Regexp != "" {
		re, err := regexp.Compile(x.Regexp)
		if err != nil {
			return nil, fieldErr(field+".regexp", "%v", err)
		}
		e.re = re
	}
	return e, nil
}

// errNotJSON says a JSON path was asked of a body that is not JSON.
var errNotJSON = errors.New("the body is not JSON")

// body is a carrier's answer, decoded as JSON at most once.
type body struct {
	raw     []byte
	decoded bool
	doc     any
	err     error
}

func (b *body) json() (any, error) {
	if !b.decoded {
		b.decoded = true
		d := json.NewDecoder(bytes.NewReader(b.raw))
		d.UseNumber()
		if err := d.Decode(&b.doc); err != nil {
			b.err = fmt.Errorf("%w: %v", errNotJSON, err)
		} else if d.More() {
			b.err = fmt.Errorf("%w: data after the JSON value", errNotJSON)
		}
	}
	return b.doc, b.err
}

// find returns the value x selects in b, and whether there is one. The error
// is errNotJSON (wrapped) when x has a JSON path and b is not JSON.
func (x *extractor) find(b *body) (string, bool, error) {
	var v string
	if x.path == nil {
		v = string(b.raw)
	} else {
		doc, err := b.json()
		if err != nil {
			return "", false, err
		}
		node, ok := walk(doc, x.path)
		if !ok {
			return "", false, nil
		}
		v, ok = scalar(node)
		if !ok {
			return "", false, nil
		}
	}
	if x.re != nil {
		m := x.re.FindStringSubmatch(v)
		if m == nil {
			return "", false, nil
		}
		v = m[0]
		if len(m) > 1 {
			v = m[1]
		}
	}
	return v, true, nil
}

// walk follows path through decoded JSON: object keys, and array indexes.
func walk(node any, path []string) (any, bool) {
	for _, key := range path {
		switch n := node.(type) {
		case map[string]any:
			v, ok := n[key]
			if !ok {
				return nil, false
			}
			node = v
		case []any:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(n) {
				return nil, false
			}
			node = n[i]
		default:
			return nil, false
		}
	}
	return node, true
}

// scalar renders a JSON leaf as a string. null, objects and arrays are not
// values.
func scalar(node any) (string, bool) {
	switch n := node.(type) {
	case string:
		return n, true
	case json.Number:
		return n.String(), true
	case bool:
		return strconv.FormatBool(n), true
	default:
		return "", false
	}
}

// matcher is a compiled Match.
type matcher struct {
	x      *extractor
	equals []string
}

// ok reports whether b passes m. The error says b could not be judged (not
// JSON where a JSON path was given).
func (m *matcher) ok(b *body) (bool, error) {
	v, found, err := m.x.find(b)
	if err != nil || !found {
		return false, err
	}
	return len(m.equals) == 0 || slices.Contains(m.equals, v), nil
}

// lookupJSON returns the string at a dotted path in a decoded JSON document
// (webhook field maps).
func lookupJSON(doc any, path string) (string, bool) {
	node, ok := walk(doc, strings.Split(path, "."))
	if !ok {
		return "", false
	}
	return scalar(node)
}
