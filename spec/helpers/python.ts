// Runs a Python script (for smtplib) and returns what it printed. Specs call
// requirePython(this) first, so a machine without python3 shows them as pending.

import { spawn } from 'node:child_process'
import { requireTool } from './external-tools.js'

/** Runs `script` with python3, passing `args`; resolves with stdout, rejects with stderr on failure. */
export function runPython(script: string, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (text: Buffer) => (out += text.toString()))
    child.stderr.on('data', (text: Buffer) => (err += text.toString()))
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`python3 exited with ${code}: ${err}`))))
  })
}

/** Makes the running spec pending (or, in CI, failing) when python3 is missing. */
export function requirePython(context: Mocha.Context): void {
  requireTool(context, 'python3', 'apt-get install python3')
}
