package esl

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// parseChannels reads the reply of `api show channels as json`:
// {"row_count":N,"rows":[{"uuid":...},...]}, or {"row_count":0} when no
// channel is up. It returns the set of channel UUIDs.
func parseChannels(body string) (map[string]bool, error) {
	body = strings.TrimSpace(body)
	if strings.HasPrefix(body, "-ERR") {
		return nil, fmt.Errorf("show channels: %s", body)
	}
	var v struct {
		RowCount *int `json:"row_count"`
		Rows     []struct {
			UUID string `json:"uuid"`
		} `json:"rows"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		return nil, fmt.Errorf("show channels: %w", err)
	}
	if v.RowCount == nil {
		return nil, errors.New("show channels: no row_count in the reply")
	}
	if *v.RowCount != len(v.Rows) {
		return nil, fmt.Errorf("show channels: row_count %d but %d rows", *v.RowCount, len(v.Rows))
	}
	live := make(map[string]bool, len(v.Rows))
	for i, r := range v.Rows {
		if r.UUID == "" {
			return nil, fmt.Errorf("show channels: row %d has no uuid", i)
		}
		live[r.UUID] = true
	}
	return live, nil
}
