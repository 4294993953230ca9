package host

import "errors"

// Sentinel errors of the host. Match them with errors.Is. A failed codec call
// wraps codec.ErrCodecFault together with ErrTrap or ErrTimeout, so callers
// that only care that "the codec failed, not the packet" can test the former.
var (
	// ErrBadModule: the module cannot be used (missing or mistyped export,
	// imports, wrong ABI version, failed conformance, does not compile).
	ErrBadModule = errors.New("host: bad module")
	// ErrTrap: the instance trapped (unreachable, out-of-bounds access, stack
	// overflow, ...) and was discarded.
	ErrTrap = errors.New("host: instance trapped")
	// ErrTimeout: the call ran past Config.CallTimeout and was stopped; the
	// instance was discarded.
	ErrTimeout = errors.New("host: call timed out")
	// ErrPoolClosed: the pool was closed.
	ErrPoolClosed = errors.New("host: pool closed")
	// ErrReleased: a lease was used after Release.
	ErrReleased = errors.New("host: lease used after release")
)

// badModuleError is an ErrBadModule with a specific message, so the message
// can name the export at fault ("host: module lacks export \"wc_decode\"")
// while errors.Is(err, ErrBadModule) still holds.
type badModuleError struct{ msg string }

func (e *badModuleError) Error() string        { return "host: " + e.msg }
func (e *badModuleError) Is(target error) bool { return target == ErrBadModule }

func badModule(msg string) error { return &badModuleError{msg: msg} }

// Faults other than traps and timeouts; they too wrap codec.ErrCodecFault and
// discard the instance.
var (
	// ErrBadResult: the module returned something the ABI does not allow (a
	// result outside its memory, a malformed decode record, an unknown error
	// code).
	ErrBadResult = errors.New("host: malformed result")
	// ErrOutOfMemory: the module could not allocate within
	// Config.MemoryLimitPages (ABI code 100, or wc_alloc returned 0).
	ErrOutOfMemory = errors.New("host: module out of memory")
)
