package api

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
)

// reportCSV renders a report's rows, then its totals (when not nil), as
// RFC 4180 CSV: one header line, then one line per row. Nested figures are
// flattened into dotted columns in the order of their JSON
// (group.accountId, firstResponseSeconds.p50, topCodes.0.code, …); the
// first column, row, says "group" or "total". A column a row lacks is
// empty.
func reportCSV(rows, totals any) ([]byte, error) {
	var lines [][]field
	rv := reflect.ValueOf(rows)
	if rv.Kind() != reflect.Slice {
		return nil, fmt.Errorf("report rows: want a slice, got %T", rows)
	}
	for i := range rv.Len() {
		fs, err := flatten(rv.Index(i).Interface())
		if err != nil {
			return nil, err
		}
		lines = append(lines, append([]field{{"row", "group"}}, fs...))
	}
	if totals != nil && !(reflect.ValueOf(totals).Kind() == reflect.Pointer && reflect.ValueOf(totals).IsNil()) {
		fs, err := flatten(totals)
		if err != nil {
			return nil, err
		}
		lines = append(lines, append([]field{{"row", "total"}}, fs...))
	}
	header := []string{"row"}
	for _, l := range lines {
		for _, f := range l {
			if !slices.Contains(header, f.key) {
				header = append(header, f.key)
			}
		}
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.UseCRLF = true // RFC 4180
	if err := w.Write(header); err != nil {
		return nil, err
	}
	for _, l := range lines {
		rec := make([]string, len(header))
		for _, f := range l {
			rec[slices.Index(header, f.key)] = f.value
		}
		if err := w.Write(rec); err != nil {
			return nil, err
		}
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

// field is one flattened value.
type field struct{ key, value string }

// flatten turns v's JSON into dotted fields, in document order.
func flatten(v any) ([]field, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out []field
	if err := flattenValue(dec, "", &out); err != nil {
		return nil, err
	}
	return out, nil
}

func flattenValue(dec *json.Decoder, prefix string, out *[]field) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	join := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "." + k
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				if err := flattenValue(dec, join(kt.(string)), out); err != nil {
					return err
				}
			}
		case '[':
			for i := 0; dec.More(); i++ {
				if err := flattenValue(dec, join(strconv.Itoa(i)), out); err != nil {
					return err
				}
			}
		}
		_, err := dec.Token() // the closing delimiter
		if err == io.EOF {
			return nil
		}
		return err
	case nil:
		*out = append(*out, field{prefix, ""})
	case string:
		*out = append(*out, field{prefix, t})
	case json.Number:
		*out = append(*out, field{prefix, t.String()})
	case bool:
		*out = append(*out, field{prefix, strconv.FormatBool(t)})
	}
	return nil
}
