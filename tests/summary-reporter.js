'use strict';
// Prints one plain closing line, `jest: N passed, N failed`, after jest's own summary, so tools that
// read a run's last line (CI among them) see how many tests ran without parsing jest's layout.
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    process.stdout.write(`jest: ${results.numPassedTests} passed, ${results.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  }
}
module.exports = SummaryReporter;
