/**
 * Mocha's spec output for people, plus the counts written as JSON to $EQUALNET_TEST_SUMMARY
 * (when set) so that .ci/run can print its closing `N passed, N failed, N skipped` line from
 * the run itself.
 */
import { writeFileSync } from 'node:fs';
import Mocha from 'mocha';

class EqualnetReporter extends Mocha.reporters.Spec {
  constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
    super(runner, options);
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      const file = process.env.EQUALNET_TEST_SUMMARY;
      if (!file) return;
      const { passes, failures, pending, tests } = this.stats;
      writeFileSync(file, JSON.stringify({ passed: passes, failed: failures, skipped: pending, tests }) + '\n');
    });
  }
}

export = EqualnetReporter;
