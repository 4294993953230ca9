package host

import (
	"errors"
	"fmt"
)

// Exports addTableAccess adds to a wasm-bindgen module.
const (
	tableGetExport  = "__wc_table_get"  // (i32) -> externref
	tableSetExport  = "__wc_table_set"  // (i32, externref) -> ()
	tableGrowExport = "__wc_table_grow" // (i32) -> i32, grown with ref.null
)

// Import kinds and value types of the binary format.
const (
	externFunc   = 0x00
	externTable  = 0x01
	externMemory = 0x02
	externGlobal = 0x03

	valI32       = 0x7f
	valExternref = 0x6f
)

// moduleInfo is what the rewriters need to know of a module's imports and
// definitions: index spaces start with the imports.
type moduleInfo struct {
	sections        []wasmSection
	importedFuncs   uint32
	importedTables  uint32
	importedGlobals uint32
	importsMemory   bool
	importModules   map[string]bool
}

// parseModule splits a module into sections and reads its import section.
// It reports ok false for bytes that are not a version-1 module, which the
// caller leaves to CompileModule to refuse.
func parseModule(module []byte) (info moduleInfo, ok bool, err error) {
	if len(module) < 8 || string(module[:4]) != "\x00asm" || string(module[4:8]) != "\x01\x00\x00\x00" {
		return info, false, nil
	}
	r := &reader{b: module, off: 8}
	for r.off < len(r.b) {
		id := r.byte()
		n := r.u32()
		content := r.bytes(int(n))
		if r.err != nil {
			return info, false, fmt.Errorf("section %d: %w", id, r.err)
		}
		info.sections = append(info.sections, wasmSection{id, content})
	}
	info.importModules = map[string]bool{}
	for _, s := range info.sections {
		if s.id != 2 {
			continue
		}
		r := &reader{b: s.content}
		n := r.u32()
		for i := uint32(0); i < n && r.err == nil; i++ {
			mod := string(r.bytes(int(r.u32())))
			r.bytes(int(r.u32())) // field name
			info.importModules[mod] = true
			switch kind := r.byte(); kind {
			case externFunc:
				r.u32()
				info.importedFuncs++
			case externTable:
				r.byte()
				r.limits()
				info.importedTables++
			case externMemory:
				r.limits()
				info.importsMemory = true
			case externGlobal:
				r.byte()
				r.byte()
				info.importedGlobals++
			default:
				return info, false, fmt.Errorf("import %d: kind %d", i, kind)
			}
		}
		if r.err != nil {
			return info, false, fmt.Errorf("import section: %w", r.err)
		}
	}
	return info, true, nil
}

// limits reads table or memory limits: a flag, the minimum and, when bit 0
// of the flag is set, the maximum.
func (r *reader) limits() {
	if r.byte()&1 != 0 {
		r.u32()
	}
	r.u32()
}

// section returns the content of the section with id, or nil.
func (m *moduleInfo) section(id byte) []byte {
	for _, s := range m.sections {
		if s.id == id {
			return s.content
		}
	}
	return nil
}

// setSection replaces or inserts the section with id.
func (m *moduleInfo) setSection(id byte, content []byte) {
	for i, s := range m.sections {
		if s.id == id {
			m.sections[i].content = content
			return
		}
	}
	m.sections = insertSection(m.sections, id, content)
}

// bytes reassembles the module.
func (m *moduleInfo) bytes(sizeHint int) []byte {
	out := append(make([]byte, 0, sizeHint+sizeHint/8+256), "\x00asm\x01\x00\x00\x00"...)
	for _, s := range m.sections {
		out = append(out, s.id)
		out = appendU32(out, uint32(len(s.content)))
		out = append(out, s.content...)
	}
	return out
}

// exportIndex finds an export by name and kind.
func (m *moduleInfo) exportIndex(name string, kind byte) (uint32, bool) {
	r := &reader{b: m.section(7)}
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		nm := string(r.bytes(int(r.u32())))
		k := r.byte()
		idx := r.u32()
		if nm == name && k == kind {
			return idx, true
		}
	}
	return 0, false
}

// addTableAccess returns a copy of a wasm-bindgen module with three small
// exported functions that get, set and grow the externref table exported as
// tableExport. wazero's public API cannot reach a table, yet the glue's
// contract needs it: the table initialiser grows and fills it, and
// serialize returns its result and its errors as table slots. The
// functions are appended, so no existing index changes; the file on disk is
// never touched.
func addTableAccess(module []byte, tableExport string) ([]byte, error) {
	m, ok, err := parseModule(module)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("not a WebAssembly 1 module")
	}
	table, ok := m.exportIndex(tableExport, externTable)
	if !ok {
		return nil, fmt.Errorf("module lacks table export %q", tableExport)
	}

	types := m.section(1)
	firstType := leadingCount(types)
	newTypes := []byte{
		0x60, 1, valI32, 1, valExternref, // get: (i32) -> externref
		0x60, 2, valI32, valExternref, 0, // set: (i32, externref) -> ()
		0x60, 1, valI32, 1, valI32, // grow: (i32) -> i32
	}
	if types, err = appendToVector(orEmpty(types), newTypes, 3); err != nil {
		return nil, fmt.Errorf("type section: %w", err)
	}
	m.setSection(1, types)

	funcs := m.section(3)
	firstFunc := m.importedFuncs + leadingCount(funcs)
	var decl []byte
	for i := uint32(0); i < 3; i++ {
		decl = appendU32(decl, firstType+i)
	}
	if funcs, err = appendToVector(orEmpty(funcs), decl, 3); err != nil {
		return nil, fmt.Errorf("function section: %w", err)
	}
	m.setSection(3, funcs)

	body := func(code ...byte) []byte {
		b := append([]byte{0}, code...) // no locals
		b = append(b, 0x0b)
		return append(appendU32(nil, uint32(len(b))), b...)
	}
	var bodies []byte
	bodies = append(bodies, body(append([]byte{0x20, 0, 0x25}, appendU32(nil, table)...)...)...)          // local.get 0; table.get
	bodies = append(bodies, body(append([]byte{0x20, 0, 0x20, 1, 0x26}, appendU32(nil, table)...)...)...) // local.get 0, 1; table.set
	bodies = append(bodies, body(append([]byte{0xd0, valExternref, 0x20, 0, 0xfc, 15}, appendU32(nil, table)...)...)...)
	code := m.section(10)
	if code, err = appendToVector(orEmpty(code), bodies, 3); err != nil {
		return nil, fmt.Errorf("code section: %w", err)
	}
	m.setSection(10, code)

	var exports []byte
	for i, name := range []string{tableGetExport, tableSetExport, tableGrowExport} {
		exports = appendU32(exports, uint32(len(name)))
		exports = append(exports, name...)
		exports = append(exports, externFunc)
		exports = appendU32(exports, firstFunc+uint32(i))
	}
	ex, err := appendToVector(orEmpty(m.section(7)), exports, 3)
	if err != nil {
		return nil, fmt.Errorf("export section: %w", err)
	}
	m.setSection(7, ex)
	return m.bytes(len(module)), nil
}

// orEmpty is an empty vector for a missing section.
func orEmpty(content []byte) []byte {
	if content == nil {
		return []byte{0}
	}
	return content
}
