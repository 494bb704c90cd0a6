// The command line of the smaller samples: flags with help text, `--help`, and usage errors that
// print one clear line on stderr and exit 2 (the shell convention) instead of a stack trace.

import { parseArgs } from 'node:util'

/** One flag: its kind, default and the line `--help` shows for it. */
export interface Flag {
  readonly type: 'string' | 'boolean'
  readonly default?: string | boolean
  readonly help: string
}

/** What the user asked for, each flag's value by name. */
export type FlagValues<T extends Record<string, Flag>> = {
  [K in keyof T]: T[K]['type'] extends 'boolean' ? boolean : T[K] extends { default: string } ? string : string | undefined
}

/** A flag or value the program cannot use: reported as a usage error (exit code 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError'
}

/** The `--help` text: the usage line, what the program does, then every flag with its default. */
export function helpText(usage: string, about: string, flags: Record<string, Flag>): string {
  const all: Record<string, Flag> = { ...flags, help: { type: 'boolean', help: 'show this help and exit' } }
  const lines = Object.entries(all).map(([name, flag]) => {
    const value = flag.type === 'string' ? ` <${name}>` : ''
    const fallback = typeof flag.default === 'string' ? ` (default ${flag.default})` : ''
    return `  --${`${name}${value}`.padEnd(22)} ${flag.help}${fallback}`
  })
  return `Usage: ${usage}\n\n${about}\n\n${lines.join('\n')}\n`
}

/** Parses `args`; throws UsageError for an unknown flag, a missing value or a stray argument. */
export function parseFlags<T extends Record<string, Flag>>(flags: T, args: readonly string[]): FlagValues<T> & { help: boolean } {
  const options = Object.fromEntries([
    ...Object.entries(flags).map(([name, flag]) => [name, { type: flag.type, ...(flag.default === undefined ? {} : { default: flag.default }) }]),
    ['help', { type: 'boolean', default: false }],
  ]) as Record<string, { type: 'string' | 'boolean'; default?: string | boolean }>
  for (const arg of args) {
    if (arg === '--') break
    const name = arg.startsWith('--') ? arg.slice(2).split('=')[0] : null
    if (name !== null && name !== undefined && !(name in options)) throw new UsageError(`unknown flag --${name}`)
    if (name === null && arg.startsWith('-') && arg.length > 1) throw new UsageError(`unknown flag ${arg}`)
  }
  try {
    const { values, positionals } = parseArgs({ args: [...args], options, strict: true, allowPositionals: true })
    if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`)
    return values as FlagValues<T> & { help: boolean }
  } catch (error) {
    if (error instanceof UsageError) throw error
    // parseArgs says what is wrong (a flag without its value, a value for a boolean).
    throw new UsageError(error instanceof Error ? error.message : String(error))
  }
}

/** A whole number from `min` to `max`, or a UsageError naming the flag. */
export function integerFlag(name: string, text: string, min: number, max: number): number {
  const value = Number(text)
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`--${name} must be ${min} to ${max}, got ${text}`)
  }
  return value
}

/**
 * Reads the command line of `program`: prints the help and exits 0 for `--help`, prints a usage
 * error (and where to find the help) on stderr and exits 2 for a bad one.
 */
export function readCommandLine<T extends Record<string, Flag>>(program: string, usage: string, about: string, flags: T): FlagValues<T> {
  try {
    const values = parseFlags(flags, process.argv.slice(2))
    if (values.help) {
      process.stdout.write(helpText(usage, about, flags))
      process.exit(0)
    }
    return values
  } catch (error) {
    return usageFailure(program, error)
  }
}

/** Ends the program for `error`: exit 2 with one line for a UsageError, else exit 1 with its message. */
export function usageFailure(program: string, error: unknown): never {
  if (error instanceof UsageError) {
    process.stderr.write(`${program}: ${error.message} (--help lists the flags)\n`)
    process.exit(2)
  }
  process.stderr.write(`${program}: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
}
