'use strict';
/**
 * What every benchmark script needs around its measurements: a timestamped log, checks that record a
 * failure and go on (the exit code reports them at the end), the processes and load-generator pools
 * to stop whatever happens, and a hard deadline that stops them all and exits 1, so no run can hang.
 */

class Harness {
  /**
   * @param {string} name the script, for messages (`bench/run.js`)
   * @param {number} hardDeadlineMs after this, everything started is stopped and the process exits 1
   */
  constructor(name, hardDeadlineMs) {
    this.name = name;
    /** @type {string[]} */
    this.failures = [];
    /** Anything with a `stop()` (sync or async): targets from ./system.js, LoadgenPool, … */
    this.started = [];
    this.log = (...a) => console.log(`[${new Date().toISOString().slice(11, 19)}]`, ...a);
    this.check = (ok, what) => {
      if (!ok) {
        this.failures.push(what);
        this.log(`FAIL: ${what}`);
      }
      return ok;
    };
    setTimeout(() => {
      console.error(`${name}: hard deadline of ${hardDeadlineMs / 1000} s reached; stopping`);
      this.cleanup().finally(() => process.exit(1));
    }, hardDeadlineMs).unref();
  }

  /** Stops everything started (errors ignored: this runs on the way out). */
  async cleanup() {
    await Promise.all(this.started.map((t) => Promise.resolve().then(() => t.stop()).catch(() => {})));
  }

  /** After `main`: stop everything, print the failed checks, and exit 0 (with `okLine` logged) or 1. */
  finish(main, okLine) {
    main
      .then(async () => {
        await this.cleanup();
        if (this.failures.length > 0) {
          console.error(`\n${this.name}: ${this.failures.length} check(s) failed:\n- ${this.failures.join('\n- ')}`);
          process.exit(1);
        }
        this.log(okLine);
        process.exit(0);
      })
      .catch(async (err) => {
        console.error(err && err.stack ? err.stack : err);
        await this.cleanup();
        process.exit(1);
      });
  }
}

module.exports = { Harness };
