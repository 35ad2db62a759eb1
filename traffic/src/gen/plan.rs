//! Which frame is which: template, flow, size, bad checksum and stamp of frame `index`, the
//! same for both engines (the live engine's program counts bad frames as [`bad_num`] does).

use crate::gen::error::GenError;
use crate::stamp::Stamp;
use crate::template::{FrameSize, Template, TemplateError};
use wire::checks::CsumLayer;

/// The bad-checksum share is `bad_num / BAD_DEN` (percent to 4 decimals).
pub const BAD_DEN: u64 = 1_000_000;

/// The share `percent` as a fraction of [`BAD_DEN`].
pub fn bad_num(percent: f64) -> u32 {
    (percent * (BAD_DEN as f64 / 100.0)).round().clamp(0.0, BAD_DEN as f64) as u32
}

/// `--bad-csum PCT [--bad-csum-layer LAYER]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BadCsum {
    /// 0 to 100: that share of frames, spread evenly (frame i is bad when
    /// floor((i+1)·p) > floor(i·p), p = percent/100), so N frames hold exactly floor(N·p) bad ones.
    pub percent: f64,
    /// The layer whose checksum is wrong; `None`: each layer the template has in turn.
    pub layer: Option<CsumLayer>,
}

/// Which frame is which: template, flow, size, bad checksum and stamp of frame `index`.
#[derive(Clone, Debug)]
pub struct FramePlan {
    pub(super) template: Template,
    pub(super) sizes: FrameSize,
    pub(super) flows: u32,
    pub(super) bad: Option<BadCsum>,
    /// The layers a bad checksum goes to, in turn.
    pub(super) bad_layers: Vec<CsumLayer>,
    /// Tells this run's stamps from another's at the sink.
    pub(super) stream: u16,
    /// Stamps carry sequence numbers.
    pub(super) sequenced: bool,
}

impl FramePlan {
    /// `sequenced`: stamps carry the frame index (false: [`crate::stamp::MAGIC_STATIC`]
    /// stamps, for frames repeated as the same bytes).
    pub fn new(
        template: Template,
        sizes: FrameSize,
        flows: u32,
        bad: Option<BadCsum>,
        sequenced: bool,
    ) -> Result<FramePlan, GenError> {
        template.validate()?;
        if flows == 0 {
            return Err(GenError::NoFlows);
        }
        let available = template.csum_layers();
        let bad_layers = match bad {
            Some(b) if !(b.percent.is_finite() && (0.0..=100.0).contains(&b.percent)) => {
                return Err(GenError::BadPercent { percent: b.percent })
            }
            Some(BadCsum { layer: Some(layer), .. }) if !available.contains(&layer) => {
                return Err(GenError::NoSuchChecksum { frames: template.describe(), layer, available })
            }
            Some(BadCsum { layer: Some(layer), .. }) => vec![layer],
            _ => available,
        };
        // Tells generator runs apart at the sink; any value will do, as long as two runs
        // in a row differ.
        let stream = (pmd::clock::monotonic_ns() ^ u64::from(std::process::id()) << 7) as u16;
        Ok(FramePlan { template, sizes, flows, bad, bad_layers, stream, sequenced })
    }

    /// The frames' template.
    pub fn template(&self) -> &Template {
        &self.template
    }

    /// The stream id in this run's stamps.
    pub fn stream(&self) -> u16 {
        self.stream
    }

    /// The length of frame `index`.
    pub fn len_of(&self, index: u64) -> usize {
        self.template.frame_len(self.sizes.at(index))
    }

    /// The largest frame this plan sends.
    pub fn max_len(&self) -> usize {
        match self.sizes {
            FrameSize::Fixed(size) => self.template.frame_len(size),
            FrameSize::Imix => crate::template::IMIX.iter().map(|&s| self.template.frame_len(s)).max().unwrap_or(0),
        }
    }

    /// True when the smallest frame has room for the stamp.
    pub fn stamped(&self) -> bool {
        match self.sizes {
            FrameSize::Fixed(size) => self.template.has_stamp_room(size),
            FrameSize::Imix => crate::template::IMIX.iter().all(|&s| self.template.has_stamp_room(s)),
        }
    }

    /// floor(n·p) for the plan's share p, in whole numbers (p is the percentage to four
    /// decimals, [`bad_num`] out of [`BAD_DEN`]): the live engine's program
    /// counts the same way.
    fn bad_before(&self, n: u64) -> u64 {
        self.bad.map_or(0, |b| (u128::from(n) * u128::from(bad_num(b.percent)) / u128::from(BAD_DEN)) as u64)
    }

    /// Which checksum of frame `index` is wrong, if any.
    pub fn bad_layer(&self, index: u64) -> Option<CsumLayer> {
        self.bad?;
        let before = self.bad_before(index);
        if self.bad_before(index + 1) > before {
            Some(self.bad_layers[(before % self.bad_layers.len() as u64) as usize])
        } else {
            None
        }
    }

    /// How many of the first `n` frames have a bad checksum.
    pub fn bad_in_first(&self, n: u64) -> u64 {
        self.bad_before(n)
    }

    /// Bytes of the first `n` frames (without FCS).
    pub fn bytes_of_first(&self, n: u64) -> u64 {
        match self.sizes {
            FrameSize::Fixed(size) => n * self.template.frame_len(size) as u64,
            FrameSize::Imix => {
                let cycle = crate::template::IMIX.len() as u64;
                let cycle_bytes: u64 = (0..cycle).map(|i| self.len_of(i) as u64).sum();
                (n / cycle) * cycle_bytes + (0..n % cycle).map(|i| self.len_of(i) as u64).sum::<u64>()
            }
        }
    }

    /// How many of the frames before `index` carry a stamp: the sequence number of frame
    /// `index`, so frames too small for a stamp (IMIX's smallest in a tunnel) leave no holes
    /// that would look like loss.
    pub fn stamped_before(&self, index: u64) -> u64 {
        match self.sizes {
            FrameSize::Fixed(size) => {
                if self.template.has_stamp_room(size) {
                    index
                } else {
                    0
                }
            }
            FrameSize::Imix => {
                let imix = &crate::template::IMIX;
                let stamped =
                    |sizes: &[usize]| sizes.iter().filter(|&&s| self.template.has_stamp_room(s)).count() as u64;
                let cycle = imix.len() as u64;
                index / cycle * stamped(imix) + stamped(&imix[..(index % cycle) as usize])
            }
        }
    }

    /// Writes frame `index` at the start of `out`, stamped with `sent_ns`; returns its length.
    pub fn write(&self, index: u64, sent_ns: u64, out: &mut [u8]) -> Result<usize, TemplateError> {
        let template = self.template.for_flow((index % u64::from(self.flows)) as u32);
        let seq = if self.sequenced { self.stamped_before(index) } else { 0 };
        let stamp = Stamp { sequenced: self.sequenced, stream: self.stream, seq, sent_ns };
        template.build_into(out, self.sizes.at(index), self.bad_layer(index), Some(&stamp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{TemplateKind, MAX_FRAME};

    fn plan(sizes: FrameSize, flows: u32, bad: Option<BadCsum>) -> FramePlan {
        FramePlan::new(Template::new(TemplateKind::Vxlan, false), sizes, flows, bad, true).unwrap()
    }

    #[test]
    fn bad_checksums_are_exact_and_take_turns() {
        let p = plan(FrameSize::Fixed(128), 1, Some(BadCsum { percent: 10.0, layer: None }));
        let bad: Vec<(u64, CsumLayer)> = (0..1000).filter_map(|i| p.bad_layer(i).map(|l| (i, l))).collect();
        assert_eq!(bad.len(), 100);
        assert_eq!(p.bad_in_first(1000), 100);
        assert_eq!(bad[0].0, 9, "spread out, not the first ten");
        let layers = Template::new(TemplateKind::Vxlan, false).csum_layers();
        for (n, (_, layer)) in bad.iter().enumerate() {
            assert_eq!(*layer, layers[n % layers.len()]);
        }
        let all = plan(FrameSize::Fixed(128), 1, Some(BadCsum { percent: 100.0, layer: Some(CsumLayer::InnerL4) }));
        assert!((0..50).all(|i| all.bad_layer(i) == Some(CsumLayer::InnerL4)));
        assert!(plan(FrameSize::Fixed(128), 1, None).bad_layer(3).is_none());
    }

    #[test]
    fn plans_refuse_what_cannot_be() {
        let t = Template::new(TemplateKind::Udp, true);
        let no_l3 = Some(BadCsum { percent: 1.0, layer: Some(CsumLayer::OuterL3) });
        let why = FramePlan::new(t, FrameSize::Fixed(100), 1, no_l3, true).unwrap_err().to_string();
        assert!(why.contains("no outer_l3 checksum") && why.contains("outer_l4"), "{why}");
        assert!(FramePlan::new(t, FrameSize::Fixed(100), 0, None, true).is_err());
        let over = Some(BadCsum { percent: 101.0, layer: None });
        assert!(FramePlan::new(t, FrameSize::Fixed(100), 1, over, true).is_err());
    }

    #[test]
    fn imix_bytes_and_frames_agree() {
        let p = plan(FrameSize::Imix, 3, None);
        let mut buf = [0u8; MAX_FRAME];
        let mut total = 0;
        for i in 0..30 {
            let len = p.write(i, 0, &mut buf).unwrap();
            assert_eq!(len, p.len_of(i));
            total += len as u64;
        }
        assert_eq!(p.bytes_of_first(30), total);
        // VXLAN over IPv4 needs 92 bytes of headers: the 60-byte IMIX frames grow to 92.
        assert_eq!(p.len_of(0), 92);
        assert_eq!(p.max_len(), 1514);
        assert!(!p.stamped(), "a 92-byte VXLAN frame has no room for the stamp");
    }

    #[test]
    fn sequence_numbers_skip_frames_without_a_stamp() {
        // VXLAN over IPv6 with IMIX: the 60-byte entries become 132-byte frames, no room.
        let p = FramePlan::new(Template::new(TemplateKind::Vxlan, true), FrameSize::Imix, 1, None, true).unwrap();
        let mut buf = [0u8; MAX_FRAME];
        let mut seqs = Vec::new();
        for i in 0..36 {
            let len = p.write(i, 0, &mut buf).unwrap();
            let offsets = wire::walk(&buf[..len], &wire::WalkConfig::default()).unwrap();
            if let Some(stamp) = crate::stamp::find(&buf[..len], &offsets) {
                assert_eq!(stamp.seq, p.stamped_before(i));
                seqs.push(stamp.seq);
            }
        }
        assert_eq!(seqs, (0..15).collect::<Vec<u64>>(), "5 of every 12 have room, numbered without holes");
    }

    #[test]
    fn each_frame_carries_its_index_and_flow() {
        let p = FramePlan::new(Template::new(TemplateKind::Tcp, true), FrameSize::Fixed(200), 4, None, true).unwrap();
        let mut buf = [0u8; MAX_FRAME];
        for i in 0..8u64 {
            let len = p.write(i, 1000 + i, &mut buf).unwrap();
            let offsets = wire::walk(&buf[..len], &wire::WalkConfig::default()).unwrap();
            let stamp = crate::stamp::find(&buf[..len], &offsets).unwrap();
            assert_eq!((stamp.seq, stamp.sent_ns, stamp.stream, stamp.sequenced), (i, 1000 + i, p.stream(), true));
            let l4 = offsets.innermost().l4.unwrap();
            assert_eq!(u16::from_be_bytes([buf[l4.offset], buf[l4.offset + 1]]), 1024 + (i % 4) as u16);
        }
    }
}
