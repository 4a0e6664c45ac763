package esl_test

import (
	"encoding/xml"
	"net"
	"os"
	"strings"
	"testing"
)

// TestContrib_EventSocketConf: the shipped event_socket.conf.xml parses,
// listens on loopback behind an ACL, and does not ship FreeSWITCH's
// well-known password.
func TestContrib_EventSocketConf(t *testing.T) {
	b, err := os.ReadFile("../contrib/freeswitch/event_socket.conf.xml")
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		Name   string `xml:"name,attr"`
		Params []struct {
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"settings>param"`
	}
	if err := xml.Unmarshal(b, &conf); err != nil {
		t.Fatal(err)
	}
	p := map[string]string{}
	for _, x := range conf.Params {
		p[x.Name] = x.Value
	}
	if conf.Name != "event_socket.conf" {
		t.Errorf("configuration name %q", conf.Name)
	}
	if ip := net.ParseIP(p["listen-ip"]); ip == nil || !ip.IsLoopback() {
		t.Errorf("listen-ip %q is not loopback", p["listen-ip"])
	}
	if p["apply-inbound-acl"] == "" {
		t.Error("no apply-inbound-acl")
	}
	if pw := p["password"]; pw == "" || strings.EqualFold(pw, "ClueCon") {
		t.Errorf("password %q", pw)
	}
	if p["listen-port"] != "8021" {
		t.Errorf("listen-port %q (the README and textback's default say 8021)", p["listen-port"])
	}
}

// TestContrib_Dialplan: the optional dialplan sets the variable the README
// tells to name in line_variable.
func TestContrib_Dialplan(t *testing.T) {
	b, err := os.ReadFile("../contrib/freeswitch/00_textback_line.xml")
	if err != nil {
		t.Fatal(err)
	}
	var inc struct {
		Extensions []struct {
			Continue string `xml:"continue,attr"`
			Actions  []struct {
				App  string `xml:"application,attr"`
				Data string `xml:"data,attr"`
			} `xml:"condition>action"`
		} `xml:"extension"`
	}
	if err := xml.Unmarshal(b, &inc); err != nil {
		t.Fatal(err)
	}
	if len(inc.Extensions) != 1 || inc.Extensions[0].Continue != "true" || len(inc.Extensions[0].Actions) != 1 {
		t.Fatalf("dialplan %+v", inc)
	}
	a := inc.Extensions[0].Actions[0]
	if a.App != "set" || a.Data != "textback_line=${destination_number}" {
		t.Errorf("action %+v", a)
	}
	readme, err := os.ReadFile("../contrib/freeswitch/README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "line_variable: textback_line") || !strings.Contains(string(readme), a.Data) {
		t.Error("README does not show the dialplan line and line_variable: textback_line")
	}
}
