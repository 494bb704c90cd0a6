// Builds client input from lines, so specs read like the RFC's examples.

/** Lines joined with CRLF, with a final CRLF. */
export function crlf(...lines: string[]): string {
  return lines.map((line) => `${line}\r\n`).join('')
}

/** A short text message as sent after DATA: headers, blank line, body lines, dot-stuffed, then ".". */
export function dataBlock(headers: string[], body: string[]): string {
  const stuffed = body.map((line) => (line.startsWith('.') ? `.${line}` : line))
  return crlf(...headers, '', ...stuffed, '.')
}

/** The message bytes a server must deliver for `dataBlock(headers, body)`. */
export function deliveredText(headers: string[], body: string[]): string {
  return crlf(...headers, '', ...body)
}
