package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestWebhookPoster(t *testing.T) {
	var got []byte
	var status = http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s with %q", r.Method, r.Header.Get("Content-Type"))
		}
		got, _ = io.ReadAll(r.Body)
		w.WriteHeader(status)
	}))
	defer srv.Close()
	p := newWebhookPoster()
	url := srv.URL + "/hooks/T000/SECRETPATH"
	if err := p.Post(context.Background(), url, []byte(`{"id":"x"}`)); err != nil {
		t.Fatalf("Post: %v", err)
	}
	var body map[string]string
	if err := json.Unmarshal(got, &body); err != nil || body["id"] != "x" {
		t.Fatalf("server got %q", got)
	}
	status = http.StatusInternalServerError
	err := p.Post(context.Background(), url, []byte(`{}`))
	if err == nil || !strings.Contains(err.Error(), "HTTP 500") || strings.Contains(err.Error(), "SECRETPATH") {
		t.Fatalf("500: %v, want an error naming the status without the URL's path", err)
	}
}

func TestWebhookPoster_TimeoutHidesURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := newWebhookPoster().Post(ctx, srv.URL+"/SECRETPATH?token=SECRETQUERY", []byte(`{}`))
	if err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("timeout: %v, want an error without the URL's secrets", err)
	}
}
