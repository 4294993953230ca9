package host

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestCallDeadline(t *testing.T) {
	t.Run("disarmed in time", func(t *testing.T) {
		d := newCallDeadline(time.Hour)
		defer d.stop()
		ctx := d.arm()
		if _, ok := ctx.Deadline(); !ok {
			t.Error("armed context has no deadline")
		}
		if expired := d.disarm(); expired {
			t.Error("expired before its deadline")
		}
		select {
		case <-ctx.Done():
			t.Error("Done closed")
		default:
		}
		if ctx.Err() != nil {
			t.Errorf("Err %v", ctx.Err())
		}
	})
	t.Run("expires and rearms", func(t *testing.T) {
		d := newCallDeadline(time.Millisecond)
		defer d.stop()
		for i := range 3 {
			ctx := d.arm()
			<-ctx.Done() // the timer must close it
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				t.Fatalf("round %d: Err %v", i, ctx.Err())
			}
			if !d.disarm() {
				t.Fatalf("round %d: disarm did not report the expiry", i)
			}
			select {
			case <-d.Done():
				t.Fatalf("round %d: Done still closed after disarm", i)
			default:
			}
			if d.Err() != nil {
				t.Fatalf("round %d: Err %v after disarm", i, d.Err())
			}
		}
	})
	t.Run("stale firing is ignored", func(t *testing.T) {
		d := newCallDeadline(time.Hour)
		defer d.stop()
		d.arm()
		d.fire() // a timer firing early, as from an earlier call
		select {
		case <-d.Done():
			t.Error("Done closed before the deadline")
		default:
		}
		if d.disarm() {
			t.Error("reported expired")
		}
	})
}
