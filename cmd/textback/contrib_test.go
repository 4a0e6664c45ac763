package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// contribExamples is contrib/examples, from this package's directory.
const contribExamples = "../../contrib/examples"

// secretFileKey finds the *_file keys a config sets (not the commented
// ones): the secrets it reads from files next to it.
var secretFileKey = regexp.MustCompile(`(?m)^\s*[a-z_]+_file:\s*"?([^"\s#]+)"?`)

// stateDirKey is the config's state_dir line.
var stateDirKey = regexp.MustCompile(`(?m)^state_dir:.*$`)

// installExample copies a shipped config into a fresh directory as an
// admin would install it: state_dir pointed at a new directory, and every
// secret file it names created next to it with an example value. It
// returns the copy's path.
func installExample(t *testing.T, src []byte) string {
	t.Helper()
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if !stateDirKey.Match(src) {
		t.Fatal("the config does not set state_dir")
	}
	data := stateDirKey.ReplaceAllLiteralString(string(src), "state_dir: "+state)
	for _, m := range secretFileKey.FindAllStringSubmatch(data, -1) {
		name := m[1]
		if filepath.IsAbs(name) || strings.Contains(name, "/") {
			t.Errorf("secret file %q: the examples name secrets as systemd credentials (a bare name)", name)
			continue
		}
		// Long enough for any secret (token_secret wants 16 bytes), digits
		// for a SIM PIN.
		value := "example-secret-0123456789abcdef\n"
		if strings.Contains(name, "pin") {
			value = "1234\n"
		}
		writeFile(t, dir, name, value)
	}
	return writeFile(t, dir, "textback.yaml", data)
}

// TestContribExamples: the reference config and every example in
// contrib/examples parse and pass `textback check --offline` as shipped
// (secrets as files next to the config), and the README lists each one.
func TestContribExamples(t *testing.T) {
	entries, err := os.ReadDir(contribExamples)
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(contribExamples, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	examples := map[string][]byte{"cmd/textback/textback.example.yaml": exampleConfig}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(contribExamples, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		examples["contrib/examples/"+e.Name()] = data
		if !strings.Contains(string(readme), "`"+e.Name()+"`") {
			t.Errorf("contrib/examples/README.md does not list %s", e.Name())
		}
	}
	// The per-PBX and per-driver examples the issue asks for.
	for _, name := range []string{"asterisk-twilio.yaml", "asterisk-kannel.yaml", "freeswitch-telnyx.yaml", "freeswitch-modem.yaml", "demo-safe.yaml"} {
		if examples["contrib/examples/"+name] == nil {
			t.Errorf("contrib/examples/%s is missing", name)
		}
	}
	// What each example is for, as the config says it.
	want := map[string]struct{ pbx, driver, preset string }{
		"asterisk-twilio.yaml":   {"asterisk", "carrier", "twilio"},
		"asterisk-kannel.yaml":   {"asterisk", "carrier", "kannel"},
		"freeswitch-telnyx.yaml": {"freeswitch", "carrier", "telnyx"},
		"freeswitch-modem.yaml":  {"freeswitch", "modem", ""},
		"demo-safe.yaml":         {"none", "console", ""},
	}
	for name, src := range examples {
		t.Run(filepath.Base(name), func(t *testing.T) {
			if !strings.HasPrefix(string(src), "#") {
				t.Errorf("%s does not start with a comment for the admin", name)
			}
			cfgPath := installExample(t, src)
			cfg, err := LoadConfig(cfgPath)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if err := cfg.ValidateForRun(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if w, ok := want[filepath.Base(name)]; ok {
				preset := ""
				if cfg.Driver.Carrier != nil {
					preset = cfg.Driver.Carrier.Preset
				}
				if cfg.PBX != w.pbx || cfg.Driver.Type != w.driver || preset != w.preset {
					t.Errorf("%s: pbx %q, driver %q, preset %q; want %+v", name, cfg.PBX, cfg.Driver.Type, preset, w)
				}
			}
			r := textback(t, "check", "--offline", "--config", cfgPath)
			if r.code != 0 {
				t.Fatalf("textback check --offline on %s: %v", name, r)
			}
			if !strings.Contains(r.stderr, "config ok: ") {
				t.Errorf("check on %s: %s", name, r.stderr)
			}
			for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
				if strings.HasPrefix(l, "warning: ") {
					t.Errorf("check on %s warns: %s", name, l)
				}
			}
			// The secrets never show.
			if strings.Contains(r.stdout, "example-secret-") {
				t.Errorf("check on %s shows a secret:\n%s", name, r.stdout)
			}
			// And the compliance aid has what it needs from each.
			mustRun(t, "compliance", "--config", cfgPath)
		})
	}
}

// TestContribExamples_DemoSafeSendsNothing: the demo-safe config is what
// a fresh install runs: no PBX, the console driver, shadow mode on.
func TestContribExamples_DemoSafeSendsNothing(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(contribExamples, "demo-safe.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(installExample(t, src))
	if err != nil {
		t.Fatal(err)
	}
	p, err := cfg.Policy()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.PBX != "none" || cfg.Driver.Type != "console" || !p.Shadow {
		t.Errorf("demo-safe: pbx %q, driver %q, shadow %v; want none, console, true", cfg.PBX, cfg.Driver.Type, p.Shadow)
	}
}
