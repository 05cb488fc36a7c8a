import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { didYouMean, editDistance, nearest } from '../../src/config/suggest.js';

describe('suggestions', () => {
  it('edit distance counts insertions, deletions, substitutions and adjacent swaps', () => {
    assert.equal(editDistance('staus', 'status'), 1);
    assert.equal(editDistance('stauts', 'status'), 1);
    assert.equal(editDistance('kernal', 'kernel'), 1);
    assert.equal(editDistance('', 'abc'), 3);
    assert.equal(editDistance('abc', 'abc'), 0);
  });

  it('suggests the nearest close name, and nothing for a far one', () => {
    const keys = ['server', 'channel', 'slot_a_dir', 'slot_b_dir', 'maintenance_window'];
    assert.equal(nearest('sever', keys), 'server');
    assert.equal(nearest('Chanel', keys), 'channel');
    assert.equal(nearest('maintenance_windw', keys), 'maintenance_window');
    assert.equal(nearest('future_key', keys), undefined);
    assert.equal(nearest('x', ['json', 'root']), undefined);
    assert.equal(didYouMean('staus', ['check', 'status']), " Did you mean 'status'?");
    assert.equal(didYouMean('zzz', ['check', 'status']), '');
  });
});
