// External programs some specs drive (swaks, curl, openssl, python3, haproxy, nats-server, …).
// On a newcomer's machine a missing one makes its spec pending, with the line that installs it;
// CI sets SMTPWIRE_REQUIRE_TOOLS=1, where a missing one fails the spec instead, so the whole
// matrix is still proven there. The root hook in skipped-tools.ts prints what was skipped.

import { spawnSync } from 'node:child_process'

/** Set to `1` (as `.ci/run` does) to make a missing external program a failure, not a skip. */
export const REQUIRE_TOOLS_VARIABLE = 'SMTPWIRE_REQUIRE_TOOLS'

/** What a skipped spec needed: the program and the line that installs it. */
export interface SkippedTool {
  readonly command: string
  readonly install: string
  readonly spec: string
}

const skipped: SkippedTool[] = []
const found = new Map<string, boolean>()

/** Whether `command` is on the PATH (looked up once per run). */
export function hasTool(command: string): boolean {
  let present = found.get(command)
  if (present === undefined) {
    present = spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0
    found.set(command, present)
  }
  return present
}

/** Whether a missing program must fail the run (CI) rather than skip its spec. */
export function toolsRequired(): boolean {
  return process.env[REQUIRE_TOOLS_VARIABLE] === '1'
}

/**
 * Makes the running spec (or, from a `before` hook, its whole suite) pending when `command` is
 * missing, remembering it for the end-of-run summary; under SMTPWIRE_REQUIRE_TOOLS=1 it throws.
 * Call it first thing, with the mocha context: `requireTool(this, 'swaks', 'apt-get install swaks')`.
 */
export function requireTool(context: Mocha.Context, command: string, install: string): void {
  if (hasTool(command)) return
  if (toolsRequired()) {
    throw new Error(`${command} is not installed and ${REQUIRE_TOOLS_VARIABLE}=1: install it with: ${install}`)
  }
  const runnable = context.currentTest ?? context.test
  skipped.push({ command, install, spec: runnable?.fullTitle() ?? '(unknown spec)' })
  context.skip()
}

/** Everything skipped so far for a missing program, in the order it happened. */
export function skippedTools(): readonly SkippedTool[] {
  return skipped
}

/** Drops the records for `command` (the spec of this helper uses it to leave no false entry). */
export function forgetSkipped(command: string): void {
  for (let index = skipped.length - 1; index >= 0; index--) if (skipped[index]?.command === command) skipped.splice(index, 1)
}

/** The end-of-run summary: one line per missing program, the specs it held back, how to install it. */
export function skippedToolsSummary(): string {
  if (skipped.length === 0) return ''
  const byCommand = new Map<string, SkippedTool[]>()
  for (const entry of skipped) {
    const list = byCommand.get(entry.command) ?? []
    list.push(entry)
    byCommand.set(entry.command, list)
  }
  const lines = ['Skipped for a missing external program (pending, not failed):']
  for (const [command, entries] of byCommand) {
    lines.push(`  ${command}: ${entries.length} spec(s); install with: ${entries[0]?.install ?? ''}`)
    for (const entry of entries) lines.push(`    - ${entry.spec}`)
  }
  lines.push(`Set ${REQUIRE_TOOLS_VARIABLE}=1 to make a missing program fail the run (CI does).`)
  return lines.join('\n')
}
