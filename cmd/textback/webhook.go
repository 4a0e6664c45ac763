package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/textback/textback/ledger"
)

// webhookPoster posts replies to a line's webhook as JSON. The URL may carry
// a credential, so errors show it masked.
type webhookPoster struct {
	client *http.Client
}

var _ ledger.Poster = (*webhookPoster)(nil)

func newWebhookPoster() *webhookPoster {
	return &webhookPoster{client: &http.Client{Timeout: 15 * time.Second}}
}

// Post sends body and returns nil on a 2xx answer. Any other answer or a
// transport error is an error (the dispatcher retries with backoff).
func (p *webhookPoster) Post(ctx context.Context, url string, body []byte) error {
	shown := SecretURL(url).String()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook %s: %w", shown, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "textback/"+versionString())
	resp, err := p.client.Do(req)
	if err != nil {
		// The transport error may quote the URL; say what happened without it.
		return fmt.Errorf("webhook %s: %s", shown, transportProblem(ctx, err))
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) //nolint:errcheck // draining for reuse only
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook %s: HTTP %d", shown, resp.StatusCode)
	}
	return nil
}

func transportProblem(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return ctx.Err().Error()
	}
	var te interface{ Timeout() bool }
	if ok := asTimeout(err, &te); ok && te.Timeout() {
		return "timed out"
	}
	return "connection failed"
}

func asTimeout(err error, target *interface{ Timeout() bool }) bool {
	for err != nil {
		if t, ok := err.(interface{ Timeout() bool }); ok {
			*target = t
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}
