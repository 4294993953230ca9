package host

import (
	"fmt"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// ABIVersion is the codec ABI this host speaks (wasm/ABI.md).
const ABIVersion = 1

const (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// abiExport is one function export of wasm/ABI.md § Exports.
type abiExport struct {
	name    string
	params  []api.ValueType
	results []api.ValueType
}

// abiExports lists the function exports in the order they are checked, so the
// first missing one is reported the same way every time.
var abiExports = []abiExport{
	{"wc_abi_version", nil, []api.ValueType{i32}},
	{"wc_alloc", []api.ValueType{i32}, []api.ValueType{i32}},
	{"wc_free", []api.ValueType{i32, i32}, nil},
	{"wc_encode", []api.ValueType{i32, i32, i32, i32, i32, i32, i32, i32}, []api.ValueType{i64}},
	{"wc_decode", []api.ValueType{i32, i32, i32}, []api.ValueType{i64}},
}

// checkModule verifies that a compiled module can serve the ABI: no imports,
// an exported memory named "memory", and every function export by name and
// signature.
func checkModule(cm wazero.CompiledModule) error {
	if imp := cm.ImportedFunctions(); len(imp) > 0 {
		mod, name, _ := imp[0].Import()
		return badModule(fmt.Sprintf("module imports %d functions (first %s.%s), want none", len(imp), mod, name))
	}
	if imp := cm.ImportedMemories(); len(imp) > 0 {
		return badModule("module imports its memory, want none")
	}
	if _, ok := cm.ExportedMemories()["memory"]; !ok {
		return badModule(`module lacks export "memory"`)
	}
	return checkExports(cm, abiExports)
}

// checkExports checks function exports by name and signature, in order.
func checkExports(cm wazero.CompiledModule, want []abiExport) error {
	fns := cm.ExportedFunctions()
	for _, e := range want {
		def, ok := fns[e.name]
		if !ok {
			return badModule(fmt.Sprintf("module lacks export %q", e.name))
		}
		if !sameTypes(def.ParamTypes(), e.params) || !sameTypes(def.ResultTypes(), e.results) {
			return badModule(fmt.Sprintf("export %q has signature %s, want %s", e.name,
				signature(def.ParamTypes(), def.ResultTypes()), signature(e.params, e.results)))
		}
	}
	return nil
}

func sameTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// signature formats a function type as "(i32, i32) -> i64".
func signature(params, results []api.ValueType) string {
	names := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, t := range ts {
			s[i] = api.ValueTypeName(t)
		}
		return strings.Join(s, ", ")
	}
	out := "(" + names(params) + ")"
	switch len(results) {
	case 0:
		return out + " -> ()"
	case 1:
		return out + " -> " + names(results)
	}
	return out + " -> (" + names(results) + ")"
}
