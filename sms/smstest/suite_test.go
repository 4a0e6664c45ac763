package smstest_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/textback/textback/sms"
	"github.com/textback/textback/sms/smstest"
)

// broken are drivers that each break the contract in one way, wrapped
// around a Fake, with the subtests that must catch them and one that must
// still pass (so a harness failure does not pass for a catch).
var broken = map[string]struct {
	wrap       func(f *smstest.Fake) sms.Driver
	fail, pass []string
}{
	"SendsWithDoneContext": {
		wrap: func(f *smstest.Fake) sms.Driver {
			return funcDriver(func(ctx context.Context, m sms.Message) (sms.Result, error) {
				if ctx.Err() != nil {
					ctx = context.WithoutCancel(ctx)
				}
				return f.Send(ctx, m)
			})
		},
		fail: []string{"ContextCancelledBeforeSend", "ContextExpiredBeforeSend"},
		pass: []string{"SendOne"},
	},
	"HangIsTemporary": {
		wrap: func(f *smstest.Fake) sms.Driver {
			return funcDriver(func(ctx context.Context, m sms.Message) (sms.Result, error) {
				res, err := f.Send(ctx, m)
				if sms.OutcomeOf(err) == sms.Unknown {
					err = &sms.Error{Outcome: sms.Temporary, Err: err}
				}
				return res, err
			})
		},
		fail: []string{"Fault/Hang"},
		pass: []string{"Fault/Temporary"},
	},
	"OptedOutAsRejected": {
		wrap: func(f *smstest.Fake) sms.Driver {
			return funcDriver(func(ctx context.Context, m sms.Message) (sms.Result, error) {
				res, err := f.Send(ctx, m)
				if sms.OutcomeOf(err) == sms.OptedOut {
					err = &sms.Error{Outcome: sms.Rejected}
				}
				return res, err
			})
		},
		fail: []string{"Fault/OptedOut"},
		pass: []string{"Fault/Rejected"},
	},
	"PlainErrors": {
		wrap: func(f *smstest.Fake) sms.Driver {
			return funcDriver(func(ctx context.Context, m sms.Message) (sms.Result, error) {
				res, err := f.Send(ctx, m)
				if err != nil {
					err = errors.New(err.Error())
				}
				return res, err
			})
		},
		fail: []string{"Fault/Temporary", "Fault/NotMobile", "ContextCancelledBeforeSend"},
		pass: []string{"Fault/Hang"},
	},
	"ManglesUnicode": {
		wrap: func(f *smstest.Fake) sms.Driver {
			return funcDriver(func(ctx context.Context, m sms.Message) (sms.Result, error) {
				m.Body = strings.Map(func(r rune) rune {
					if r > 0xFFFF {
						return '?'
					}
					return r
				}, m.Body)
				return f.Send(ctx, m)
			})
		},
		fail: []string{"Unicode"},
		pass: []string{"GSMExtension"},
	},
	"TruncatesLongBodies": {
		wrap: func(f *smstest.Fake) sms.Driver {
			return funcDriver(func(ctx context.Context, m sms.Message) (sms.Result, error) {
				if r := []rune(m.Body); len(r) > 160 {
					m.Body = string(r[:160])
				}
				return f.Send(ctx, m)
			})
		},
		fail: []string{"LongMessage", "LongestMessage"},
		pass: []string{"SendOne"},
	},
	"IgnoresContextWhileHanging": {
		wrap: func(f *smstest.Fake) sms.Driver {
			return funcDriver(func(ctx context.Context, m sms.Message) (sms.Result, error) {
				if ctx.Err() != nil {
					return f.Send(ctx, m)
				}
				return f.Send(context.WithoutCancel(ctx), m)
			})
		},
		fail: []string{"Fault/Hang"},
		pass: []string{"Fault/Rejected"},
	},
	"ReportsOneSegment": {
		wrap: func(f *smstest.Fake) sms.Driver {
			return funcDriver(func(ctx context.Context, m sms.Message) (sms.Result, error) {
				res, err := f.Send(ctx, m)
				res.Segments = 1
				return res, err
			})
		},
		fail: []string{"LongMessage", "Unicode"},
		pass: []string{"SendOne"},
	},
	"SwapsNumbers": {
		wrap: func(f *smstest.Fake) sms.Driver {
			return funcDriver(func(ctx context.Context, m sms.Message) (sms.Result, error) {
				m.To, m.From = m.From, m.To
				return f.Send(ctx, m)
			})
		},
		fail: []string{"SendOne", "Concurrent"},
		pass: []string{"Name"},
	},
	"LosesAConcurrentSend": {
		wrap: func(f *smstest.Fake) sms.Driver {
			var n atomic.Int32
			return funcDriver(func(ctx context.Context, m sms.Message) (sms.Result, error) {
				if n.Add(1) == 5 {
					return sms.Result{}, nil
				}
				return f.Send(ctx, m)
			})
		},
		fail: []string{"Concurrent"},
		pass: []string{"SendOne"},
	},
	"ReusesProviderIDs": {
		wrap: func(f *smstest.Fake) sms.Driver {
			return funcDriver(func(ctx context.Context, m sms.Message) (sms.Result, error) {
				res, err := f.Send(ctx, m)
				if err == nil {
					res.ProviderID = "same"
				}
				return res, err
			})
		},
		fail: []string{"Concurrent"},
		pass: []string{"SendOne"},
	},
	"StuckAfterFault": {
		wrap: func(f *smstest.Fake) sms.Driver {
			var failed atomic.Bool
			return funcDriver(func(ctx context.Context, m sms.Message) (sms.Result, error) {
				if failed.Load() {
					return sms.Result{}, &sms.Error{Outcome: sms.Temporary}
				}
				res, err := f.Send(ctx, m)
				failed.Store(err != nil)
				return res, err
			})
		},
		fail: []string{"Fault/Rejected"},
		pass: []string{"Concurrent"},
	},
}

type funcDriver func(ctx context.Context, m sms.Message) (sms.Result, error)

func (d funcDriver) Send(ctx context.Context, m sms.Message) (sms.Result, error) { return d(ctx, m) }
func (d funcDriver) Name() string                                                { return "broken" }

// TestRun_CatchesBrokenDrivers runs the suite against each broken driver in
// a child process (a failing Run fails its *testing.T) and checks that the
// subtests meant to catch it failed.
func TestRun_CatchesBrokenDrivers(t *testing.T) {
	if os.Getenv("SMSTEST_BROKEN") != "" {
		t.Skip("in a child process")
	}
	for name, b := range broken {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestBrokenDriver$", "-test.v", "-test.count=1", "-test.timeout=60s")
			cmd.Env = append(os.Environ(), "SMSTEST_BROKEN="+name)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("the suite passed a driver that %s, or did not run (%v):\n%s", name, err, out)
			}
			for _, sub := range b.fail {
				if !strings.Contains(string(out), "--- FAIL: TestBrokenDriver/"+sub+" (") {
					t.Errorf("subtest %s did not catch a driver that %s:\n%s", sub, name, out)
				}
			}
			for _, sub := range b.pass {
				if !strings.Contains(string(out), "--- PASS: TestBrokenDriver/"+sub+" (") {
					t.Errorf("subtest %s did not pass, want only the subtests for %s to fail:\n%s", sub, name, out)
				}
			}
		})
	}
}

// TestBrokenDriver is TestRun_CatchesBrokenDrivers's child: it fails, on
// purpose, when run with SMSTEST_BROKEN set.
func TestBrokenDriver(t *testing.T) {
	name := os.Getenv("SMSTEST_BROKEN")
	if name == "" {
		t.Skip("run by TestRun_CatchesBrokenDrivers")
	}
	b, ok := broken[name]
	if !ok {
		t.Fatalf("no broken driver %q", name)
	}
	h := fakeHarness()
	newFake := h.New
	h.New = func(t *testing.T) sms.Driver { return b.wrap(newFake(t).(*smstest.Fake)) }
	smstest.Run(t, h)
}
