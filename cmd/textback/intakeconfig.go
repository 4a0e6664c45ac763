package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/nyaruka/phonenumbers"
	"github.com/textback/textback/cmd/textback/web"
)

// IntakeConfig is a line's intake page (lines.NAME.intake): its look and
// its questions. The page is served when the line has a link.
type IntakeConfig struct {
	// Colour is the brand colour, #rrggbb (default #0b5cad). Text on it
	// is white or black, whichever reads better.
	Colour string `yaml:"colour"`
	// LogoFile is a PNG, JPEG, GIF or WebP image shown instead of the
	// business name; relative to the config file's directory.
	LogoFile string `yaml:"logo_file"`
	// Intro is a sentence or two above the questions.
	Intro string `yaml:"intro"`
	// Fields are the questions; empty means name, what they need, and an
	// address or the best time to call back.
	Fields []IntakeFieldConfig `yaml:"fields"`
}

// IntakeFieldConfig is one question of the intake page.
type IntakeFieldConfig struct {
	Name         string `yaml:"name"`
	Label        string `yaml:"label"`
	Type         string `yaml:"type"` // text (one line, default) or textarea
	Required     bool   `yaml:"required"`
	Max          int    `yaml:"max"`
	Autocomplete string `yaml:"autocomplete"`
}

// Limits of a line's intake page.
const (
	maxLogo        = 256 << 10
	maxFields      = 10
	maxFieldLength = 4000
	maxIntro       = 500
	defaultColour  = "#0b5cad"
)

var (
	hexColour    = regexp.MustCompile(`^#[0-9A-Fa-f]{6}$`)
	fieldName    = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
	autocomplete = regexp.MustCompile(`^[a-z][a-z0-9 -]{0,63}$`)
	logoTypes    = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true}
)

// validateIntake checks lines.NAME.intake.
func (c *Config) validateIntake(path string, l LineConfig) error {
	in := l.Intake
	if in == nil {
		return nil
	}
	path += ".intake"
	if l.Link == "" {
		return c.fieldErr(path, "an intake page needs the line's link (lines.NAME.link) to reach it")
	}
	if in.Colour != "" && !hexColour.MatchString(in.Colour) {
		return c.fieldErr(path+".colour", "%q is not a colour like #0b5cad", in.Colour)
	}
	if n := len([]rune(in.Intro)); n > maxIntro {
		return c.fieldErr(path+".intro", "%d characters; keep it under %d", n, maxIntro)
	}
	if in.LogoFile != "" {
		if _, _, err := c.readLogo(in.LogoFile); err != nil {
			return c.fieldErr(path+".logo_file", "%v", err)
		}
	}
	if len(in.Fields) > maxFields {
		return c.fieldErr(path+".fields", "%d questions; at most %d", len(in.Fields), maxFields)
	}
	seen := map[string]bool{}
	for i, f := range in.Fields {
		p := fmt.Sprintf("%s.fields[%d]", path, i)
		switch {
		case !fieldName.MatchString(f.Name):
			return c.fieldErr(p+".name", "%q is not a field name: lower-case letters, digits and _, starting with a letter", f.Name)
		case seen[f.Name]:
			return c.fieldErr(p+".name", "%q is used twice", f.Name)
		case f.Name == "csrf":
			return c.fieldErr(p+".name", "csrf is the form's own field; choose another name")
		case strings.TrimSpace(f.Label) == "":
			return c.fieldErr(p+".label", "a question needs a label")
		case f.Type != "" && f.Type != "text" && f.Type != "textarea":
			return c.fieldErr(p+".type", "%q is not text or textarea", f.Type)
		case f.Max < 0 || f.Max > maxFieldLength:
			return c.fieldErr(p+".max", "%d is not between 1 and %d (0: the default)", f.Max, maxFieldLength)
		case f.Autocomplete != "" && !autocomplete.MatchString(f.Autocomplete):
			return c.fieldErr(p+".autocomplete", "%q is not an HTML autocomplete token like name or street-address", f.Autocomplete)
		}
		seen[f.Name] = true
	}
	return nil
}

// readLogo reads a logo file (relative to the config's directory) and
// returns it with its media type.
func (c *Config) readLogo(name string) ([]byte, string, error) {
	full := name
	if !filepath.IsAbs(full) {
		full = filepath.Join(filepath.Dir(c.file), name)
	}
	data, err := readSmallFileLimit(full, maxLogo)
	if err != nil {
		return nil, "", fmt.Errorf("cannot read %s", pathErrorText(err))
	}
	typ := http.DetectContentType(data)
	if !logoTypes[typ] {
		return nil, "", fmt.Errorf("%s is %s; a logo is a PNG, JPEG, GIF or WebP image", full, typ)
	}
	return data, typ, nil
}

// intakeEnabled reports whether any line has an intake link: the public
// listener then serves /i/.
func (c *Config) intakeEnabled() bool {
	for _, l := range c.LineConfigs {
		if l.Link != "" {
			return true
		}
	}
	return false
}

// sites builds each linked line's intake page (the inbox uses them for
// the lines' names and numbers too, so every line gets one).
func (c *Config) sites() (map[string]web.Site, error) {
	out := map[string]web.Site{}
	for _, name := range c.lineNames() {
		l := c.LineConfigs[name]
		in := l.Intake
		if in == nil {
			in = &IntakeConfig{}
		}
		s := web.Site{Line: name, Business: l.Business, PhoneE164: strings.TrimSpace(l.Number), Accent: in.Colour, Intro: in.Intro}
		s.Phone = displayNumber(s.PhoneE164)
		if s.Accent == "" {
			s.Accent = defaultColour
		}
		if in.LogoFile != "" {
			var err error
			if s.Logo, s.LogoType, err = c.readLogo(in.LogoFile); err != nil {
				return nil, c.fieldErr("lines."+name+".intake.logo_file", "%v", err)
			}
		}
		for _, f := range in.Fields {
			fs := web.FieldSpec{Name: f.Name, Label: f.Label, Multiline: f.Type == "textarea", Required: f.Required, Max: f.Max, Autocomplete: f.Autocomplete}
			if fs.Max == 0 {
				fs.Max = 200
				if fs.Multiline {
					fs.Max = 1000
				}
			}
			s.Fields = append(s.Fields, fs)
		}
		if len(s.Fields) == 0 {
			s.Fields = web.DefaultFields()
		}
		out[name] = s
	}
	return out, nil
}

// displayNumber writes an E.164 number as people of its country do:
// +12125550100 is (212) 555-0100.
func displayNumber(e164 string) string {
	n, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return e164
	}
	return phonenumbers.Format(n, phonenumbers.NATIONAL)
}

// usersFile is the inbox's accounts file: state_dir/users, or beside the
// ledger when only ledger.path is set.
func (c *Config) usersFile() string {
	if c.StateDir != "" {
		return filepath.Join(c.StateDir, "users")
	}
	return filepath.Join(filepath.Dir(c.LedgerPath()), "users")
}
