//! Which shard runs which unit: longest-processing-time-first (LPT) list
//! scheduling on estimated costs. Units are taken largest first (ties: the
//! lower unit index first) and each goes to the shard with the least
//! estimated work so far (ties: the lower shard index). Integer costs and
//! total orders make the assignment a pure function of the costs and the
//! shard count: every worker computes the same one without talking to the
//! others. LPT's makespan is within 4/3 of the optimum (Graham 1969), and
//! no two shards' loads differ by more than the largest unit's cost.
//!
//! The cost of a matrix is that of its exact spectrum: the Gram AᵀA of the
//! N×M view (N·M² multiply-adds) and the dense eigen-solve of the M×M Gram
//! (≈ M³), for each pooled view.

use crate::load::MatrixSpec;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// One unit of work: a matrix (`analyze`, `predict`) or a snapshot
/// (`compare`), by its position in the whole run's order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Unit {
    pub index: usize,
    /// The matrix's name, or the snapshot's path.
    pub name: String,
    /// Estimated cost ([`matrix_cost`], summed over a snapshot's matrices).
    pub cost: u128,
}

/// Estimated cost of a matrix's spectrum: per view N·M² + M³.
pub fn matrix_cost(spec: &MatrixSpec) -> u128 {
    let (n, m) = (spec.n() as u128, spec.m() as u128);
    spec.views.len() as u128 * (n * m * m + m * m * m)
}

/// The shard of every unit (`costs[i]` is unit i's cost), by LPT over
/// `shards` shards (at least one).
pub fn assign(costs: &[u128], shards: usize) -> Vec<usize> {
    let shards = shards.max(1);
    let mut order: Vec<usize> = (0..costs.len()).collect();
    order.sort_by_key(|&i| (Reverse(costs[i]), i));
    let mut loads: BinaryHeap<Reverse<(u128, usize)>> =
        (0..shards).map(|s| Reverse((0, s))).collect();
    let mut owner = vec![0; costs.len()];
    for i in order {
        let Reverse((load, s)) = loads.pop().expect("at least one shard");
        owner[i] = s;
        loads.push(Reverse((load + costs[i], s)));
    }
    owner
}

/// Estimated work per shard under `owner`.
pub fn loads(costs: &[u128], owner: &[usize], shards: usize) -> Vec<u128> {
    let mut l = vec![0; shards.max(1)];
    for (c, s) in costs.iter().zip(owner) {
        l[*s] += c;
    }
    l
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::Xoshiro256PlusPlus;
    use rand::{RngExt, SeedableRng};

    fn random_costs(seed: u64, n: usize) -> Vec<u128> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        // Matrix-like costs: sides from 64 to 8192, a few huge.
        (0..n)
            .map(|_| {
                let m: u128 = rng.random_range(64..8192);
                let n: u128 = m * rng.random_range(1..5);
                n * m * m + m * m * m
            })
            .collect()
    }

    #[test]
    fn loads_differ_by_at_most_the_largest_unit() {
        for seed in 0..50 {
            for shards in [1, 2, 3, 7, 16] {
                let costs = random_costs(seed, 1 + (seed as usize * 7) % 200);
                let owner = assign(&costs, shards);
                let l = loads(&costs, &owner, shards);
                let gap = l.iter().max().unwrap() - l.iter().min().unwrap();
                let big = *costs.iter().max().unwrap();
                assert!(
                    gap <= big,
                    "seed {seed}, {shards} shards: gap {gap} > {big}"
                );
            }
        }
    }

    #[test]
    fn a_decoder_balances_within_a_few_percent() {
        // Llama-3-8B's 7 matrices (GQA k, v of 1024×4096; MLP 14336) × 32
        // layers. Measured largest load / mean: 1.019 over 12 shards, 1.104
        // over 48 (4.7 units a shard: one MLP matrix is 17% of a mean load).
        let shapes = [
            (4096, 4096),
            (1024, 4096),
            (1024, 4096),
            (4096, 4096),
            (14336, 4096),
            (14336, 4096),
            (4096, 14336),
        ];
        let mut costs = Vec::new();
        for _ in 0..32 {
            for (r, c) in shapes {
                let (n, m) = (r.max(c) as u128, r.min(c) as u128);
                costs.push(n * m * m + m * m * m);
            }
        }
        for (shards, bound) in [(12, 1.03), (48, 1.15)] {
            let owner = assign(&costs, shards);
            let l = loads(&costs, &owner, shards);
            let mean = l.iter().sum::<u128>() as f64 / shards as f64;
            let worst = *l.iter().max().unwrap() as f64 / mean;
            assert!(
                worst < bound,
                "{shards} shards: largest load {worst:.4} × the mean"
            );
        }
    }

    #[test]
    fn the_assignment_is_a_function_of_the_costs() {
        let costs = random_costs(7, 120);
        let a = assign(&costs, 5);
        assert_eq!(a, assign(&costs.clone(), 5));
        // Equal costs: ties go by unit index, then shard index.
        assert_eq!(assign(&[3, 3, 3, 3, 3], 2), vec![0, 1, 0, 1, 0]);
        assert_eq!(assign(&[1, 5, 2], 2), vec![1, 0, 1]);
        // Every unit is placed, on a shard that exists.
        assert!(a.iter().all(|s| *s < 5));
        assert_eq!(assign(&[], 3), Vec::<usize>::new());
        assert_eq!(assign(&[4, 4], 1), vec![0, 0]);
    }

    #[test]
    fn more_shards_than_units_leaves_some_empty() {
        let owner = assign(&[10, 20], 4);
        assert_eq!(owner, vec![1, 0]);
    }

    #[test]
    fn matrix_cost_counts_gram_and_solve_per_view() {
        let spec = |rows, cols, views| MatrixSpec {
            name: "w".into(),
            rule: crate::load::RuleKind::Matrix,
            views: vec![crate::load::View::dense(0, rows, cols); views],
            rows,
            cols,
            eval_scale: 1.0,
        };
        assert_eq!(
            matrix_cost(&spec(1536, 384, 1)),
            1536 * 384 * 384 + 384u128.pow(3)
        );
        assert_eq!(
            matrix_cost(&spec(384, 1536, 1)),
            matrix_cost(&spec(1536, 384, 1))
        );
        assert_eq!(
            matrix_cost(&spec(32, 16, 9)),
            9 * (32 * 16 * 16 + 16 * 16 * 16)
        );
    }
}
