package ledger

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The fixture's clock: Tuesday 2026-11-24 10:00 UTC. "Old" records are
// 100 days older, "recent" ones an hour.
var (
	fxNow    = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	fxOld    = fxNow.Add(-100 * 24 * time.Hour)
	fxRecent = fxNow.Add(-time.Hour)
	// fxZone stores some times with an offset, as a record decoded on a
	// machine with a local zone would: exports must show them in UTC.
	fxZone = time.FixedZone("EST", -5*3600)
)

const (
	fxCaller  = "+15557654321"
	fxCaller2 = "+15550000002"
)

// fixture is what seedFixture stored.
type fixture struct {
	calls    []Call
	texts    []Text // sent (old), queued (old), sending (old), failed (old), delivered (recent)
	messages []Message
	consent  []ConsentEvent
}

// seedFixture fills st with a little of everything and sets its clock to
// fxNow.
func seedFixture(t *testing.T, st *Store) fixture {
	t.Helper()
	st.now = func() time.Time { return fxNow }
	var fx fixture
	fx.calls = []Call{
		seedCall(t, st, Call{ID: "asterisk:1795711522.0", PBX: "asterisk", PBXCall: "1795711522.0", Outcome: Missed,
			Reason: ReasonNoAnswer, From: "5557654321", Number: fxCaller, LineRaw: "5551000", Line: "main",
			OfferedAt: fxOld.Add(-20 * time.Second).In(fxZone), EndedAt: fxOld.In(fxZone), RingTime: 19500 * time.Millisecond,
			DecidedAt: fxOld, Action: ActionText, Detail: "missed (noanswer): text queued", Text: 1}),
		seedCall(t, st, Call{ID: "freeswitch:abc", PBX: "freeswitch", PBXCall: "abc", Outcome: Answered,
			From: "+15550000003", Number: "+15550000003", Line: "main", OfferedAt: fxRecent.Add(-time.Minute),
			EndedAt: fxRecent, DecidedAt: fxRecent, Action: ActionSkip, Skip: SkipAnswered, Detail: "answered"}),
		seedCall(t, st, Call{ID: "asterisk:1795711600.4", PBX: "asterisk", PBXCall: "1795711600.4", Outcome: Missed,
			Reason: ReasonBusy, From: "anonymous", Withheld: true, Line: "main", OfferedAt: fxRecent, EndedAt: fxRecent,
			DecidedAt: fxRecent, Action: ActionSkip, Skip: SkipWithheld, Detail: "caller withheld the number"}),
	}
	fx.texts = []Text{
		seedText(t, st, Text{Kind: KindCallback, Call: "asterisk:1795711522.0", Line: "main", From: "+15555551000", To: fxCaller,
			Body: "Sorry we missed your call to Acme Plumbing.", Status: StatusSent, Attempts: 1, CreatedAt: fxOld,
			UpdatedAt: fxOld.Add(time.Second), ProviderID: "SM1", Segments: 1}),
		seedText(t, st, Text{Kind: KindCallback, Line: "main", From: "+15555551000", To: fxCaller2, Body: "held through quiet hours",
			Status: StatusQueued, CreatedAt: fxOld, UpdatedAt: fxOld, NotBefore: fxNow.Add(time.Hour), Held: true}),
		seedText(t, st, Text{Kind: KindHelp, Line: "main", From: "+15555551000", To: fxCaller2, Body: "in flight",
			Status: StatusSending, Attempts: 1, CreatedAt: fxOld.Add(time.Minute), UpdatedAt: fxOld}),
		seedText(t, st, Text{Kind: KindForward, Line: "main", From: "+15555551000", To: "+15555550199", Body: "Fwd: -5 degrees here",
			Status: StatusFailed, CreatedAt: fxOld, UpdatedAt: fxOld, Code: "21211", Error: "=invalid 'To' number"}),
		seedText(t, st, Text{Kind: KindConfirm, Line: "main", From: "+15555551000", To: fxCaller, Body: "You are unsubscribed.",
			Status: StatusDelivered, CreatedAt: fxRecent.In(fxZone), UpdatedAt: fxRecent, Exempt: true}),
	}
	fx.messages = []Message{
		seedMessage(t, st, Message{Provider: "twilio", ProviderID: "SMa", From: fxCaller, To: "+15555551000", Line: "main",
			Body: "STOP", ReceivedAt: fxOld, RecordedAt: fxOld, Kind: MsgOptOut, Texts: []uint64{5}}),
		seedMessage(t, st, Message{Provider: "twilio", ProviderID: "SMb", From: fxCaller2, To: "+15555551000", Line: "main",
			Body: "Need a plumber, 3 Elm St", ReceivedAt: fxOld, RecordedAt: fxOld, Kind: MsgReply, Texts: []uint64{4, 6}}),
		seedMessage(t, st, Message{Provider: "modem", ProviderID: "7", From: fxCaller2, Line: "main",
			Body: `=HYPERLINK("http://example.com","call me")`, ReceivedAt: fxRecent, RecordedAt: fxRecent, Kind: MsgReply, Review: true}),
	}
	fx.consent = []ConsentEvent{
		seedConsent(t, st, ConsentEvent{At: fxOld, Number: fxCaller, Line: "main", State: ConsentOptedOut,
			Source: SourceKeyword, Evidence: "STOP"}),
		seedConsent(t, st, ConsentEvent{At: fxRecent.In(fxZone), Number: fxCaller, Line: "main", State: ConsentOptedIn,
			Source: SourceKeyword, Evidence: "START"}),
		seedConsent(t, st, ConsentEvent{At: fxRecent, Number: fxCaller2, State: ConsentOptedOut, Source: SourceCarrier,
			Evidence: "21610", Review: false}),
	}
	for _, at := range []time.Time{fxOld, fxNow.Add(-49 * time.Hour), fxNow.Add(-47 * time.Hour), fxNow} {
		seedRate(t, st, "", at, 2)
		seedRate(t, st, "main", at, 1)
	}
	return fx
}

func TestBackup(t *testing.T) {
	st := openTestStore(t)
	seedFixture(t, st)
	dir := t.TempDir()
	path := filepath.Join(dir, "backup.db")
	// An older backup is replaced.
	if err := os.WriteFile(path, []byte("last week's backup"), 0o600); err != nil {
		t.Fatal(err)
	}

	n, err := st.Backup(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if n != fi.Size() || n == 0 {
		t.Errorf("Backup returned %d, the file has %d bytes", n, fi.Size())
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600", fi.Mode().Perm())
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"backup.db"}) {
		t.Errorf("backup directory holds %q, want only the backup", names)
	}

	cp, err := Open(path, StoreOptions{ReadOnly: true})
	if err != nil {
		t.Fatalf("the backup does not open as a ledger: %v", err)
	}
	defer cp.Close()
	for _, b := range allBuckets {
		if got, want := dumpBucket(t, cp, b), dumpBucket(t, st, b); !maps.Equal(got, want) {
			t.Errorf("bucket %s: backup has %d records, ledger %d, or they differ", b, len(got), len(want))
		}
	}
	calls, err := cp.Calls(0)
	if err != nil || len(calls) != 3 {
		t.Errorf("backup Calls = %d, %v", len(calls), err)
	}
	hist, err := cp.ConsentHistory(fxCaller)
	if err != nil || len(hist) != 2 {
		t.Errorf("backup ConsentHistory = %+v, %v", hist, err)
	}
	checkLedgerFile(t, path)
}

func TestBackup_ReadOnlyStore(t *testing.T) {
	// `textback ledger backup` opens the ledger read-only.
	path := filepath.Join(t.TempDir(), "textback.db")
	st, err := Open(path, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	seedFixture(t, st)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := Open(path, StoreOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	dst := filepath.Join(t.TempDir(), "backup.db")
	if _, err := ro.Backup(dst); err != nil {
		t.Fatal(err)
	}
	cp, err := Open(dst, StoreOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	if got, want := dumpBucket(t, cp, bucketConsent), dumpBucket(t, ro, bucketConsent); !maps.Equal(got, want) || len(got) != 3 {
		t.Errorf("backup consent history %v, want %v", got, want)
	}
}

func TestBackup_WhileWriting(t *testing.T) {
	// A backup is one read transaction: writes going on meanwhile neither
	// block it nor make it inconsistent.
	st := openTestStore(t)
	seedFixture(t, st)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := st.db.Update(func(tx *bolt.Tx) error {
				b := tx.Bucket(bucketCalls)
				seq, _ := b.NextSequence()
				return putJSON(b, u64(seq), Call{Seq: seq, ID: fmt.Sprintf("test:%d", i), Detail: strings.Repeat("x", 500)})
			}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	dir := t.TempDir()
	for i := range 5 {
		path := filepath.Join(dir, fmt.Sprintf("b%d.db", i))
		if _, err := st.Backup(path); err != nil {
			t.Error(err)
		}
		checkLedgerFile(t, path)
	}
	close(stop)
	wg.Wait()
}

func TestBackup_Fails(t *testing.T) {
	st := openTestStore(t)
	seedFixture(t, st)
	dir := t.TempDir()
	targetDir := filepath.Join(dir, "adir")
	if err := os.Mkdir(targetDir, 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
	}{
		{"MissingDirectory", filepath.Join(dir, "nope", "backup.db"), "no such file or directory"},
		{"TargetIsADirectory", targetDir, "backup ledger to " + targetDir},
		{"TheLedgerItself", st.Path(), "that is the ledger itself"},
	}
	ledgerBefore := dumpBucket(t, st, bucketCalls)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := dirNames(t, dir)
			n, err := st.Backup(tt.path)
			assertOneLine(t, err, "backup ledger to "+tt.path+": ", tt.want)
			if n != 0 {
				t.Errorf("Backup returned %d bytes with an error", n)
			}
			if after := dirNames(t, dir); !slices.Equal(before, after) {
				t.Errorf("the failed backup left files: %q, before %q", after, before)
			}
			if names := dirNames(t, targetDir); len(names) != 0 {
				t.Errorf("the failed backup left %q in %s", names, targetDir)
			}
		})
	}
	if !maps.Equal(dumpBucket(t, st, bucketCalls), ledgerBefore) {
		t.Error("a failed backup changed the ledger")
	}
	if _, err := st.Calls(0); err != nil {
		t.Errorf("the ledger after the failed backups: %v", err)
	}
}

// exportCSV exports what as CSV and returns its rows as maps by column.
func exportCSV(t *testing.T, st *Store, what string, since time.Time) []map[string]string {
	t.Helper()
	var buf bytes.Buffer
	n, err := st.Export(&buf, what, "csv", since)
	if err != nil {
		t.Fatalf("Export(%s, csv): %v", what, err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("Export(%s, csv) is not CSV: %v", what, err)
	}
	if len(recs) == 0 {
		t.Fatalf("Export(%s, csv) wrote no header", what)
	}
	if !slices.Equal(recs[0], ExportColumns(what)) {
		t.Errorf("Export(%s, csv) header = %q, want %q", what, recs[0], ExportColumns(what))
	}
	if n != len(recs)-1 {
		t.Errorf("Export(%s, csv) returned %d, wrote %d rows", what, n, len(recs)-1)
	}
	var rows []map[string]string
	for _, r := range recs[1:] {
		row := map[string]string{}
		for i, col := range recs[0] {
			row[col] = r[i]
		}
		rows = append(rows, row)
	}
	return rows
}

// exportJSONL exports what as JSON lines, checks each is one object with
// UTC times, and returns the raw lines.
func exportJSONL(t *testing.T, st *Store, what string, since time.Time) []string {
	t.Helper()
	var buf bytes.Buffer
	n, err := st.Export(&buf, what, "jsonl", since)
	if err != nil {
		t.Fatalf("Export(%s, jsonl): %v", what, err)
	}
	var lines []string
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		line := sc.Text()
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("Export(%s, jsonl) line %q: %v", what, line, err)
		}
		if strings.Contains(line, "-05:00") {
			t.Errorf("Export(%s, jsonl) line has a non-UTC time: %s", what, line)
		}
		lines = append(lines, line)
	}
	if n != len(lines) {
		t.Errorf("Export(%s, jsonl) returned %d, wrote %d lines", what, n, len(lines))
	}
	return lines
}

func TestExport_CSV(t *testing.T) {
	st := openTestStore(t)
	seedFixture(t, st)

	// The columns are an interface: this is the contract.
	wantCols := map[string]string{
		"calls":    "seq,id,pbx,pbx_call,offered_at,ended_at,decided_at,verdict,reason,from,number,withheld,line_raw,line,ring_seconds,action,skip,detail,text",
		"consent":  "seq,at,number,line,state,source,evidence,review",
		"messages": "seq,received_at,recorded_at,provider,provider_id,from,to,line,kind,review,texts,purged,body",
		"texts":    "seq,created_at,updated_at,kind,call,line,from,to,status,attempts,not_before,provider_id,segments,code,error,held,exempt,purged,body",
	}
	for what, cols := range wantCols {
		if got := strings.Join(ExportColumns(what), ","); got != cols {
			t.Errorf("ExportColumns(%s) = %s, want %s", what, got, cols)
		}
	}

	calls := exportCSV(t, st, "calls", time.Time{})
	if len(calls) != 3 {
		t.Fatalf("%d calls exported, want 3", len(calls))
	}
	want := map[string]string{"seq": "1", "id": "asterisk:1795711522.0", "pbx": "asterisk", "pbx_call": "1795711522.0",
		"offered_at": "2026-08-16T09:59:40Z", "ended_at": "2026-08-16T10:00:00Z", "decided_at": "2026-08-16T10:00:00Z",
		"verdict": "missed", "reason": "noanswer", "from": "5557654321", "number": fxCaller, "withheld": "false",
		"line_raw": "5551000", "line": "main", "ring_seconds": "19.5", "action": "text", "skip": "",
		"detail": "missed (noanswer): text queued", "text": "1"}
	if !maps.Equal(calls[0], want) {
		t.Errorf("call row\n got %v\nwant %v", calls[0], want)
	}
	if c := calls[2]; c["withheld"] != "true" || c["skip"] != "withheld" || c["text"] != "" || c["number"] != "" {
		t.Errorf("withheld call row: %v", c)
	}

	consent := exportCSV(t, st, "consent", time.Time{})
	if len(consent) != 3 {
		t.Fatalf("%d consent events exported, want every one (3)", len(consent))
	}
	// Grouped by number, each number's oldest first.
	var got []string
	for _, r := range consent {
		got = append(got, r["number"]+" "+r["state"]+" "+r["source"]+" "+r["evidence"]+" "+r["at"]+" "+r["review"])
	}
	wantConsent := []string{
		fxCaller2 + " opted_out carrier 21610 2026-11-24T09:00:00Z false",
		fxCaller + " opted_out keyword STOP 2026-08-16T10:00:00Z false",
		fxCaller + " opted_in keyword START 2026-11-24T09:00:00Z false",
	}
	if !slices.Equal(got, wantConsent) {
		t.Errorf("consent rows\n got %q\nwant %q", got, wantConsent)
	}

	msgs := exportCSV(t, st, "messages", time.Time{})
	if len(msgs) != 3 {
		t.Fatalf("%d messages exported, want 3", len(msgs))
	}
	if m := msgs[1]; m["body"] != "Need a plumber, 3 Elm St" || m["texts"] != "4 6" || m["kind"] != "reply" ||
		m["received_at"] != "2026-08-16T10:00:00Z" || m["purged"] != "false" || m["review"] != "false" || m["provider_id"] != "SMb" {
		t.Errorf("message row: %v", m)
	}
	// Outside text a spreadsheet would evaluate is defused.
	if m := msgs[2]; m["body"] != `'=HYPERLINK("http://example.com","call me")` || m["review"] != "true" || m["to"] != "" {
		t.Errorf("formula-like message row: %v", m)
	}

	texts := exportCSV(t, st, "texts", time.Time{})
	if len(texts) != 5 {
		t.Fatalf("%d texts exported, want 5", len(texts))
	}
	if x := texts[1]; x["status"] != "queued" || x["held"] != "true" || x["not_before"] != "2026-11-24T11:00:00Z" ||
		x["body"] != "held through quiet hours" || x["attempts"] != "0" {
		t.Errorf("queued text row: %v", x)
	}
	if x := texts[3]; x["error"] != "'=invalid 'To' number" || x["code"] != "21211" || x["body"] != "Fwd: -5 degrees here" {
		t.Errorf("failed text row: %v", x)
	}
	if x := texts[4]; x["created_at"] != "2026-11-24T09:00:00Z" || x["exempt"] != "true" || x["not_before"] != "" {
		t.Errorf("delivered text row: %v", x)
	}
}

func TestExport_JSONL(t *testing.T) {
	st := openTestStore(t)
	fx := seedFixture(t, st)
	decode := func(line string, v any) {
		t.Helper()
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			t.Fatalf("decode %q: %v", line, err)
		}
	}
	lines := exportJSONL(t, st, "calls", time.Time{})
	if len(lines) != len(fx.calls) {
		t.Fatalf("%d calls exported, want %d", len(lines), len(fx.calls))
	}
	for i, line := range lines {
		var c Call
		decode(line, &c)
		if want := fx.calls[i]; c.ID != want.ID || !c.OfferedAt.Equal(want.OfferedAt) || c.RingTime != want.RingTime || c.Skip != want.Skip {
			t.Errorf("call %d: %+v, want %+v", i, c, want)
		}
	}
	lines = exportJSONL(t, st, "consent", time.Time{})
	if len(lines) != len(fx.consent) {
		t.Fatalf("%d consent events exported, want every one (%d)", len(lines), len(fx.consent))
	}
	for _, line := range lines {
		var e ConsentEvent
		decode(line, &e)
		if e.Number == "" || e.State == "" || e.Source == "" || e.Evidence == "" || e.At.IsZero() || e.At.Location() != time.UTC {
			t.Errorf("consent event missing audit fields: %s", line)
		}
	}
	lines = exportJSONL(t, st, "messages", time.Time{})
	var m Message
	decode(lines[2], &m)
	if m.Body != fx.messages[2].Body { // jsonl is verbatim
		t.Errorf("message body %q, want %q", m.Body, fx.messages[2].Body)
	}
	lines = exportJSONL(t, st, "texts", time.Time{})
	var x Text
	decode(lines[3], &x)
	if x.Error != fx.texts[3].Error || x.Body != fx.texts[3].Body || x.Status != StatusFailed {
		t.Errorf("text %+v, want %+v", x, fx.texts[3])
	}
}

func TestExport_Since(t *testing.T) {
	st := openTestStore(t)
	seedFixture(t, st)
	since := fxNow.Add(-24 * time.Hour)
	for what, want := range map[string]int{"calls": 2, "consent": 2, "messages": 1, "texts": 1} {
		for _, format := range []string{"csv", "jsonl"} {
			n, err := st.Export(&bytes.Buffer{}, what, format, since)
			if err != nil || n != want {
				t.Errorf("Export(%s, %s, since a day) = %d, %v; want %d", what, format, n, err, want)
			}
		}
	}
	if rows := exportCSV(t, st, "texts", since); len(rows) != 1 || rows[0]["seq"] != "5" {
		t.Errorf("texts since a day: %v", rows)
	}
	// The boundary is inclusive.
	if n, err := st.Export(&bytes.Buffer{}, "messages", "jsonl", fxRecent); err != nil || n != 1 {
		t.Errorf("messages since the recent one's time = %d, %v; want 1", n, err)
	}
	// An empty ledger exports a header and nothing else.
	empty := openTestStore(t)
	for what := range exportColumns {
		if rows := exportCSV(t, empty, what, time.Time{}); len(rows) != 0 {
			t.Errorf("empty ledger exported %d %s", len(rows), what)
		}
		if lines := exportJSONL(t, empty, what, time.Time{}); len(lines) != 0 {
			t.Errorf("empty ledger exported %d %s", len(lines), what)
		}
	}
}

type failWriter struct{ after int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.after <= 0 {
		return 0, errors.New("disk full")
	}
	w.after--
	return len(p), nil
}

func TestExport_Errors(t *testing.T) {
	st := openTestStore(t)
	seedFixture(t, st)
	for _, tt := range []struct{ what, format, want string }{
		{"numbers", "csv", `unknown record type "numbers"`},
		{"", "jsonl", `unknown record type ""`},
		{"Calls", "csv", `unknown record type "Calls"`},
		{"calls", "json", `unknown format "json"`},
		{"consent", "xlsx", `unknown format "xlsx"`},
	} {
		var buf bytes.Buffer
		n, err := st.Export(&buf, tt.what, tt.format, time.Time{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Export(%q, %q) error %v, want %s", tt.what, tt.format, err, tt.want)
		}
		if n != 0 || buf.Len() != 0 {
			t.Errorf("Export(%q, %q) wrote %d rows, %d bytes", tt.what, tt.format, n, buf.Len())
		}
	}
	// A failing writer fails the export.
	for _, format := range []string{"csv", "jsonl"} {
		if _, err := st.Export(&failWriter{after: 0}, "texts", format, time.Time{}); err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("Export(texts, %s) to a failing writer: %v", format, err)
		}
	}
}

func TestPurge(t *testing.T) {
	st := openTestStore(t)
	fx := seedFixture(t, st)
	consentBefore := dumpBucket(t, st, bucketConsent)
	numbersBefore := dumpBucket(t, st, bucketNumbers)
	callsBefore := dumpBucket(t, st, bucketCalls)
	queueBefore := dumpBucket(t, st, bucketQueue)

	ps, err := st.Purge(fxNow.Add(-30 * 24 * time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// Old: the sent and the failed text, both old messages; the queued and
	// the sending text are kept; 2 counters × (old, 49h) deleted.
	want := PurgeStats{Texts: 2, Messages: 2, Pending: 2, RateCounters: 4}
	if ps != want {
		t.Errorf("Purge = %+v, want %+v", ps, want)
	}

	texts, err := st.Texts(0)
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(texts)
	for i, x := range texts {
		orig := fx.texts[i]
		purged := i == 0 || i == 3
		if purged {
			if x.Body != "" || !x.Purged {
				t.Errorf("text %d (%s, old): body %q purged %v, want the body gone", x.Seq, x.Status, x.Body, x.Purged)
			}
			// Everything but the body stays.
			x.Body, x.Purged = orig.Body, false
		}
		if !x.CreatedAt.Equal(orig.CreatedAt) {
			t.Errorf("text %d: created %v, want %v", x.Seq, x.CreatedAt, orig.CreatedAt)
		}
		x.CreatedAt = orig.CreatedAt
		x.UpdatedAt, x.NotBefore = orig.UpdatedAt, orig.NotBefore
		if !reflect.DeepEqual(x, orig) {
			t.Errorf("text %d after purge\n got %+v\nwant %+v", x.Seq, x, orig)
		}
	}
	msgs, err := st.Messages(0)
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(msgs)
	for i, m := range msgs {
		orig := fx.messages[i]
		if i < 2 {
			if m.Body != "" || !m.Purged {
				t.Errorf("message %d (old): body %q purged %v, want the body gone", m.Seq, m.Body, m.Purged)
			}
			m.Body, m.Purged = orig.Body, false
		}
		m.ReceivedAt, m.RecordedAt = orig.ReceivedAt, orig.RecordedAt
		if !reflect.DeepEqual(m, orig) {
			t.Errorf("message %d after purge\n got %+v\nwant %+v", m.Seq, m, orig)
		}
	}
	if !maps.Equal(dumpBucket(t, st, bucketConsent), consentBefore) {
		t.Error("purge changed the consent history")
	}
	if !maps.Equal(dumpBucket(t, st, bucketNumbers), numbersBefore) {
		t.Error("purge changed number states")
	}
	if !maps.Equal(dumpBucket(t, st, bucketCalls), callsBefore) {
		t.Error("purge changed call records")
	}
	if !maps.Equal(dumpBucket(t, st, bucketQueue), queueBefore) {
		t.Error("purge changed the queue")
	}
	rates := dumpBucket(t, st, bucketRates)
	if len(rates) != 4 {
		t.Errorf("%d rate counters left, want the 4 of the last 48 hours", len(rates))
	}
	for k := range rates {
		if h := btou64([]byte(k[len(k)-8:])); h < uint64(fxNow.Add(-48*time.Hour).Unix()/3600) {
			t.Errorf("rate counter of hour %d (%v) kept", h, time.Unix(int64(h)*3600, 0).UTC())
		}
	}

	// Idempotent: nothing more to do, nothing changes.
	all := map[string]map[string]string{}
	for _, b := range allBuckets {
		all[string(b)] = dumpBucket(t, st, b)
	}
	ps, err = st.Purge(fxNow.Add(-30 * 24 * time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if ps != (PurgeStats{Pending: 2}) {
		t.Errorf("second Purge = %+v, want nothing but the 2 pending texts kept", ps)
	}
	for _, b := range allBuckets {
		if !maps.Equal(dumpBucket(t, st, b), all[string(b)]) {
			t.Errorf("second purge changed bucket %s", b)
		}
	}

	// Purging everything up to now still keeps pending texts and consent.
	ps, err = st.Purge(fxNow.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if ps != (PurgeStats{Texts: 1, Messages: 1, Pending: 2}) {
		t.Errorf("Purge(now) = %+v", ps)
	}
	for _, seq := range []uint64{2, 3} {
		if x, err := st.Text(seq); err != nil || x.Body != fx.texts[seq-1].Body {
			t.Errorf("pending text %d: body %q, %v", seq, x.Body, err)
		}
	}
	if !maps.Equal(dumpBucket(t, st, bucketConsent), consentBefore) {
		t.Error("purge changed the consent history")
	}
}

func TestPurge_Batches(t *testing.T) {
	// More records than one write transaction takes: all are purged, and
	// fields Purge does not know (a newer textback's) survive.
	st := openTestStore(t)
	st.now = func() time.Time { return fxNow }
	const n = 2*purgeBatch + 345
	seedUpdate(t, st, func(tx *bolt.Tx) error {
		texts, msgs := tx.Bucket(bucketTexts), tx.Bucket(bucketMessages)
		for i := range n {
			seq, _ := texts.NextSequence()
			status := StatusSent
			if i%100 == 0 {
				status = StatusQueued
			}
			if err := putNewText(tx, &Text{Seq: seq, Body: "hello", Status: status, CreatedAt: fxOld}); err != nil {
				return err
			}
			mseq, _ := msgs.NextSequence()
			raw := fmt.Sprintf(`{"seq":%d,"body":"hi","received_at":%q,"future_field":{"x":1}}`, mseq, fxOld.Format(time.RFC3339))
			if err := msgs.Put(u64(mseq), []byte(raw)); err != nil {
				return err
			}
		}
		return nil
	})
	ps, err := st.Purge(fxNow)
	if err != nil {
		t.Fatal(err)
	}
	pending := (n + 99) / 100
	if want := (PurgeStats{Texts: n - pending, Messages: n, Pending: pending}); ps != want {
		t.Errorf("Purge = %+v, want %+v", ps, want)
	}
	for k, v := range dumpBucket(t, st, bucketMessages) {
		if !strings.Contains(v, `"future_field":{"x":1}`) || !strings.Contains(v, `"body":""`) || !strings.Contains(v, `"purged":true`) {
			t.Fatalf("message %x after purge: %s", k, v)
		}
	}
	stats, err := st.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if stats.Purged != 2*n-pending {
		t.Errorf("Stats.Purged = %d, want %d", stats.Purged, 2*n-pending)
	}
}

func TestPurge_BadRecord(t *testing.T) {
	st := openTestStore(t)
	seedUpdate(t, st, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTexts).Put(u64(7), []byte("{not json"))
	})
	_, err := st.Purge(fxNow)
	if err == nil || !strings.Contains(err.Error(), "purge texts: decode texts record 0000000000000007") {
		t.Errorf("Purge over a bad record: %v", err)
	}
}

func TestStats(t *testing.T) {
	st := openTestStore(t)
	empty, err := st.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if empty.Calls != 0 || empty.Queued != 0 || !empty.OldestQueued.IsZero() || empty.OldestQueuedAge != 0 || empty.BytesPerCall != 0 {
		t.Errorf("empty ledger stats: %+v", empty)
	}

	fx := seedFixture(t, st)
	s, err := st.Stats()
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(st.Path())
	if err != nil {
		t.Fatal(err)
	}
	if s.Path != st.Path() || s.FileBytes != fi.Size() || s.Schema != SchemaVersion {
		t.Errorf("path %q size %d schema %d; want %q %d %d", s.Path, s.FileBytes, s.Schema, st.Path(), fi.Size(), SchemaVersion)
	}
	if s.Calls != 3 || s.Texts != 5 || s.Messages != 3 || s.ConsentEvents != 3 || s.Numbers != 2 || s.OptedOut != 1 {
		t.Errorf("counts: %+v", s)
	}
	if want := map[TextStatus]int{StatusSent: 1, StatusQueued: 1, StatusSending: 1, StatusFailed: 1, StatusDelivered: 1}; !maps.Equal(s.TextsByStatus, want) {
		t.Errorf("TextsByStatus = %v, want %v", s.TextsByStatus, want)
	}
	if s.Queued != 1 || !s.OldestQueued.Equal(fx.texts[1].CreatedAt) || s.OldestQueuedAge != 100*24*time.Hour {
		t.Errorf("queued %d, oldest %v (age %v); want 1, %v (100 days)", s.Queued, s.OldestQueued, s.OldestQueuedAge, fx.texts[1].CreatedAt)
	}
	if len(s.Buckets) != len(allBuckets) {
		t.Errorf("%d buckets, want %d", len(s.Buckets), len(allBuckets))
	}
	if b := s.Buckets["rates"]; b.Keys != 8 || b.Bytes <= 0 {
		t.Errorf("rates bucket: %+v", b)
	}
	if s.BytesPerCall <= 0 || s.BytesPerCall > s.Buckets["calls"].Bytes {
		t.Errorf("BytesPerCall = %d (calls bucket %d bytes)", s.BytesPerCall, s.Buckets["calls"].Bytes)
	}
	if s.Purged != 0 {
		t.Errorf("Purged = %d before any purge", s.Purged)
	}
	// It reads as JSON for `textback ledger stats`.
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"file_bytes":`, `"schema":2`, `"opted_out":1`, `"queued":1`, `"oldest_queued":"2026-08-16T10:00:00Z"`, `"texts_by_status":{`} {
		if !bytes.Contains(data, []byte(key)) {
			t.Errorf("stats JSON lacks %s: %s", key, data)
		}
	}

	if _, err := st.Purge(fxNow.Add(-30 * 24 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	if s, err = st.Stats(); err != nil || s.Purged != 4 {
		t.Errorf("Purged after purge = %d, %v; want 4", s.Purged, err)
	}
}
