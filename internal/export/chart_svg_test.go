package export

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"
)

// svgTexts returns the text elements of an SVG and the stroke colours of
// its paths.
func svgTexts(t *testing.T, b []byte) (texts []string, strokes map[string]int, fonts map[string]bool) {
	t.Helper()
	strokes, fonts = map[string]int{}, map[string]bool{}
	stroke := regexp.MustCompile(`stroke:(#[0-9A-Fa-f]{6})`)
	family := regexp.MustCompile(`font-family:([^;"]+)`)
	d := xml.NewDecoder(bytes.NewReader(b))
	inText := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			for _, a := range tok.Attr {
				if a.Name.Local != "style" {
					continue
				}
				if m := stroke.FindStringSubmatch(a.Value); m != nil && tok.Name.Local == "path" {
					strokes[strings.ToLower(m[1])]++
				}
				if m := family.FindStringSubmatch(a.Value); m != nil && tok.Name.Local == "text" {
					fonts[m[1]] = true
				}
			}
			inText = tok.Name.Local == "text"
		case xml.CharData:
			if inText {
				texts = append(texts, string(tok))
			}
		case xml.EndElement:
			inText = false
		}
	}
	return texts, strokes, fonts
}

// TestChartSVGReadsLikeGrafana checks, in the SVG a user gets, what was
// seen wrong: 13 series without a legend, 7 colours for 13 lines, the same
// time label twice, 6e+07 on the y axis, a serif font.
func TestChartSVGReadsLikeGrafana(t *testing.T) {
	ranges := []struct {
		name       string
		start, end time.Time
		step       time.Duration
	}{
		{"three minutes", time.Date(2026, 11, 25, 23, 43, 0, 0, time.UTC), time.Date(2026, 11, 25, 23, 46, 0, 0, time.UTC), 5 * time.Second},
		{"across midnight", time.Date(2026, 11, 25, 22, 7, 0, 0, time.UTC), time.Date(2026, 11, 26, 1, 53, 0, 0, time.UTC), time.Minute},
	}
	for _, rg := range ranges {
		t.Run(rg.name, func(t *testing.T) {
			r := &Result{Type: TypeMatrix}
			for i := range 13 {
				s := &Series{Metric: Metric{{Name: "__name__", Value: "mem"}, {Name: "pod", Value: fmt.Sprintf("pod-%d", i)}}}
				for tm := rg.start; !tm.After(rg.end); tm = tm.Add(rg.step) {
					s.T = append(s.T, tm.UnixMilli())
					s.V = append(s.V, 6e7+float64(i)*1e6+1e6*math.Sin(float64(tm.Unix())/60))
				}
				r.Series = append(r.Series, s)
			}
			var out bytes.Buffer
			if err := writeChart(&out, Options{Format: SVG, Title: "mem", Width: 1200, Height: 600}, r); err != nil {
				t.Fatal(err)
			}
			texts, strokes, fonts := svgTexts(t, out.Bytes())
			all := strings.Join(texts, "\n")
			for i := range 13 {
				if !strings.Contains(all, fmt.Sprintf(`pod="pod-%d"`, i)) {
					t.Errorf("legend lacks series pod-%d", i)
				}
			}
			seen := map[string]bool{}
			for _, s := range texts {
				if strings.Contains(s, "e+") {
					t.Errorf("label %q in e-notation", s)
				}
				if seen[s] {
					t.Errorf("label %q drawn twice", s)
				}
				seen[s] = true
			}
			lineColours := 0
			for _, n := range strokes {
				if n >= 1 {
					lineColours++
				}
			}
			if lineColours < 13 {
				t.Errorf("13 series drawn with %d stroke colours (grid included)", lineColours)
			}
			for f := range fonts {
				if strings.Contains(strings.ToLower(f), "serif") && !strings.Contains(strings.ToLower(f), "sans") {
					t.Errorf("text in a serif font %q", f)
				}
				if f == "Liberation Serif" || f == "Times" {
					t.Errorf("text in a serif font %q", f)
				}
			}
		})
	}
}
