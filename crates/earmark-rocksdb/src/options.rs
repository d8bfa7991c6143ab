//! RocksDB tuning and the postings merge operators.

use earmark_core::HashConfig;
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, DBCompressionType, KeyEncodingType,
    MergeOperands, Options, PlainTableFactoryOptions, SliceTransform,
};

use earmark_index::posting;

use crate::layout::{self, CF_META, CF_POSTINGS};
use crate::presence;

/// Shared by the block-based column families (everything but the postings): track
/// records, fingerprints and metadata that a query reads for its candidates; the OS
/// page cache holds the rest.
const BLOCK_CACHE_BYTES: usize = 256 << 20;

/// Bits per key of the postings tables' bloom filter: about 1 % false positives, so
/// a bucket absent from the index costs no table read.
const BLOOM_BITS_PER_KEY: i32 = 10;

/// Names recorded in the OPTIONS file; the operators never change meaning.
const POSTINGS_MERGE_OPERATOR_NAME: &str = "earmark.merge_packed";
const PRESENCE_MERGE_OPERATOR_NAME: &str = "earmark.presence_union";

/// Database-wide options.
pub(crate) fn db_options(create: bool) -> Options {
    let mut opts = Options::default();
    opts.create_if_missing(create);
    opts.create_missing_column_families(create);
    // Flushes and compactions in the background, one thread per core.
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    opts.increase_parallelism(i32::try_from(cores).unwrap_or(2));
    // RocksDB's own text log: a little history for diagnosis, not an archive.
    opts.set_keep_log_file_num(2);
    opts.set_max_log_file_size(4 << 20);
    // Table files are read through a memory map rather than pread: a data block that
    // the block cache lacks but the page cache holds is then decompressed straight
    // from the mapping, without a system call and a copy. Measured on the scale bench
    // at 100k tracks (16 GB): 12.2-12.5 -> 8.0-8.9 ms for repeated queries, 15-16 ->
    // 13 ms median for first-time ones; at 1k tracks 8.5 -> 5.7 ms first-time. The
    // price: mapped pages count in the process's resident memory (they are the page
    // cache's, and the kernel reclaims them), and an I/O error while reading a table
    // stops the process (SIGBUS) instead of failing the one lookup.
    opts.set_allow_mmap_reads(true);
    opts
}

/// One descriptor per column family, each with its options.
pub(crate) fn descriptors(cache: &Cache) -> Vec<ColumnFamilyDescriptor> {
    layout::ALL_CFS
        .iter()
        .map(|&name| ColumnFamilyDescriptor::new(name, cf_options(name, cache)))
        .collect()
}

/// The shared block cache. A hyper clock cache: lookups take no lock, which matters
/// when every query probes thousands of blocks (measured against an LRU cache: -2 to
/// -3 % CPU per service check, -12 to -17 % lookup time in the scale bench).
pub(crate) fn block_cache() -> Cache {
    Cache::new_hyper_clock_cache(BLOCK_CACHE_BYTES, 0)
}

fn cf_options(name: &str, cache: &Cache) -> Options {
    let mut opts = Options::default();
    if name == CF_POSTINGS {
        postings_options(&mut opts);
        return opts;
    }
    // LZ4 on every level: JSON records and ids compress well (RocksDB keeps a block
    // uncompressed when LZ4 saves less than an eighth).
    opts.set_compression_type(DBCompressionType::Lz4);
    opts.set_bottommost_compression_type(DBCompressionType::Lz4);
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(cache);
    // Index and filter blocks count against the cache instead of growing with the
    // catalog; level 0's stay pinned, as every lookup consults them.
    table.set_cache_index_and_filter_blocks(true);
    table.set_pin_l0_filter_and_index_blocks_in_cache(true);
    if name == CF_META {
        opts.set_merge_operator_associative(PRESENCE_MERGE_OPERATOR_NAME, presence::merge_union);
    }
    opts.set_block_based_table_factory(&table);
    opts
}

/// The postings: RocksDB's plain tables, read through the memory map, with a hash
/// index of the bucket keys built in memory as a table is opened. A lookup hashes its
/// key, finds the entry and decodes the value where it lies: no data block to read,
/// checksum, decompress or cache, which was most of a query's time in block-based
/// tables (decision 0022). Values are bit-packed, which compression does not shrink.
/// Plain tables keep no checksums: a damaged value is caught by the postings decoder
/// (which refuses what does not decode), not by RocksDB.
fn postings_options(opts: &mut Options) {
    let key_length = layout::bucket_key_width(HashConfig::DEFAULT.hash_bits());
    opts.set_prefix_extractor(SliceTransform::create_fixed_prefix(key_length));
    opts.set_compression_type(DBCompressionType::None);
    opts.set_bottommost_compression_type(DBCompressionType::None);
    opts.set_plain_table_factory(&PlainTableFactoryOptions {
        user_key_length: key_length as u32,
        // A bucket absent from a small catalog costs one filter probe.
        bloom_bits_per_key: BLOOM_BITS_PER_KEY,
        hash_table_ratio: 0.75,
        // Every key is its own prefix, so the index holds each one.
        index_sparseness: 16,
        huge_page_tlb_size: 0,
        encoding_type: KeyEncodingType::Plain,
        full_scan_mode: false,
        store_index_in_file: false,
    });
    // Operands (new tracks' postings) concatenate among themselves; folding them
    // into a stored value codes it again with them sorted in.
    opts.set_merge_operator(POSTINGS_MERGE_OPERATOR_NAME, merge_postings, concat);
}

/// Concatenation: operands are self-delimiting, so a track's operand appended to
/// others is still a list of operands, and they combine in any grouping.
fn concat(_key: &[u8], existing: Option<&[u8]>, operands: &MergeOperands) -> Option<Vec<u8>> {
    let len = existing.map_or(0, <[u8]>::len) + operands.iter().map(<[u8]>::len).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    if let Some(v) = existing {
        out.extend_from_slice(v);
    }
    for op in operands {
        out.extend_from_slice(op);
    }
    Some(out)
}

/// The full merge of the postings: the stored value (or nothing) and the new
/// operands, as one value in track order. Damaged bytes fail the merge rather than
/// store a value that decodes to wrong postings: a read that needs it gets a
/// corruption error, and a flush or compaction that needs it fails, which stops
/// RocksDB taking writes until the index is reopened.
fn merge_postings(
    _key: &[u8],
    existing: Option<&[u8]>,
    operands: &MergeOperands,
) -> Option<Vec<u8>> {
    posting::merge(existing, operands.iter()).ok()
}
