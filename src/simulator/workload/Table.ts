/**
 * Plain-text tables laid out with `@effect/printer`: columns padded to their
 * widest cell (left- or right-aligned), separated by `│`, framed by rules.
 *
 * @since 0.2.0
 */
import * as Doc from "@effect/printer/Doc"

/**
 * @since 0.2.0
 * @category models
 */
export type Align = "left" | "right"

const cell = (text: string, width: number, align: Align): Doc.Doc<never> =>
  align === "left"
    ? Doc.fill(Doc.text(text), width)
    : Doc.cat(Doc.spaces(Math.max(0, width - text.length)), Doc.text(text))

/**
 * Renders `rows` (and `header` when given) as a table.
 *
 * @since 0.2.0
 * @category rendering
 */
export const render = (
  rows: ReadonlyArray<ReadonlyArray<string>>,
  options: { readonly header?: ReadonlyArray<string> | undefined; readonly align?: ReadonlyArray<Align> } = {}
): string => {
  const all = options.header === undefined ? rows : [options.header, ...rows]
  const columns = Math.max(0, ...all.map((row) => row.length))
  const widths = Array.from({ length: columns }, (_, i) => Math.max(0, ...all.map((row) => (row[i] ?? "").length)))
  const alignOf = (i: number): Align => options.align?.[i] ?? (i === 0 ? "left" : "left")
  const line = (row: ReadonlyArray<string>) =>
    Doc.hcat([
      Doc.char(" "),
      Doc.concatWith(
        widths.map((width, i) => cell(row[i] ?? "", width, alignOf(i))),
        (left, right) => Doc.hcat([left, Doc.text(" │ "), right])
      )
    ])
  const rule = (joint: string) => Doc.text(widths.map((width) => "─".repeat(width + 2)).join(joint))
  const body = [
    rule("┬"),
    ...(options.header === undefined ? [] : [line(options.header), rule("┼")]),
    ...rows.map(line),
    rule("┴")
  ]
  return Doc.render(Doc.vsep(body), { style: "pretty", options: { lineWidth: 10_000 } })
    .split("\n")
    .map((text) => text.trimEnd())
    .join("\n")
}
