// A mocha root hook (loaded by .mocharc.json's `require`): after the last spec, names every spec
// that was skipped because an external program was missing, and how to install it.

import { skippedToolsSummary } from './external-tools.js'

export const mochaHooks = {
  afterAll(): void {
    // Root afterAll runs before the reporter's summary; printing on exit puts ours after it.
    process.once('exit', () => {
      const summary = skippedToolsSummary()
      if (summary) process.stdout.write(`${summary}\n`)
    })
  },
}
