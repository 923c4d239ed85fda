//! A small Apache Parquet writer (format 2.x, data page v1, PLAIN values, RLE levels, no
//! compression) for nested schemas of required/optional groups, 3-level lists and byte-array or
//! int64 leaves — enough for the HF-datasets / verl layouts the exporters write, readable by pyarrow.
//! The caller appends (repetition level, definition level, value) triples per leaf column.

use std::io::Write;

/// Repetition of a schema node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rep {
    /// Exactly one.
    Required,
    /// Zero or one.
    Optional,
    /// Zero or more (the middle group of a list).
    Repeated,
}

/// Leaf value type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaf {
    /// UTF-8 string (BYTE_ARRAY, converted type UTF8).
    Utf8,
    /// Raw bytes (BYTE_ARRAY).
    Bytes,
    /// 64-bit integer.
    Int64,
}

/// A schema node.
#[derive(Debug, Clone)]
pub enum Node {
    /// A leaf column.
    Leaf(String, Rep, Leaf),
    /// A group; `list` marks it with the LIST converted type.
    Group(String, Rep, bool, Vec<Node>),
}

impl Node {
    /// `required`/`optional` 3-level list of `element` (a group or leaf named `element`).
    pub fn list(name: &str, rep: Rep, element: Node) -> Node {
        Node::Group(name.into(), rep, true, vec![Node::Group("list".into(), Rep::Repeated, false, vec![element])])
    }
}

/// A value appended to a leaf column.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    /// Absent at this definition level.
    Null,
    /// A byte array (string or bytes).
    Bytes(&'a [u8]),
    /// An integer.
    Int(i64),
}

struct Column {
    path: Vec<String>,
    leaf: Leaf,
    max_def: u8,
    max_rep: u8,
    reps: Vec<u8>,
    defs: Vec<u8>,
    values: Vec<u8>,
}

/// Builds a file column by column; call [`ParquetWriter::finish_row_group`] every few hundred rows.
pub struct ParquetWriter<W: Write> {
    out: W,
    offset: u64,
    schema: Vec<Node>,
    columns: Vec<Column>,
    row_groups: Vec<Vec<u8>>,
    rows_in_group: i64,
    total_rows: i64,
    metadata: Vec<(String, String)>,
}

fn collect(node: &Node, path: &mut Vec<String>, def: u8, rep: u8, out: &mut Vec<Column>) {
    let (name, r) = match node {
        Node::Leaf(n, r, _) | Node::Group(n, r, _, _) => (n, *r),
    };
    let def = def + u8::from(r != Rep::Required);
    let rep = rep + u8::from(r == Rep::Repeated);
    path.push(name.clone());
    match node {
        Node::Leaf(_, _, leaf) => out.push(Column {
            path: path.clone(),
            leaf: *leaf,
            max_def: def,
            max_rep: rep,
            reps: vec![],
            defs: vec![],
            values: vec![],
        }),
        Node::Group(_, _, _, children) => {
            for c in children {
                collect(c, path, def, rep, out);
            }
        }
    }
    path.pop();
}

impl<W: Write> ParquetWriter<W> {
    /// Starts a file with these top-level fields.
    ///
    /// # Errors
    /// I/O errors.
    pub fn new(mut out: W, schema: Vec<Node>) -> std::io::Result<Self> {
        out.write_all(b"PAR1")?;
        let mut columns = Vec::new();
        for n in &schema {
            collect(n, &mut Vec::new(), 0, 0, &mut columns);
        }
        Ok(Self {
            out,
            offset: 4,
            schema,
            columns,
            row_groups: vec![],
            rows_in_group: 0,
            total_rows: 0,
            metadata: vec![],
        })
    }

    /// Adds a key-value pair to the file metadata (e.g. `huggingface` features).
    pub fn add_metadata(&mut self, key: &str, value: &str) {
        self.metadata.push((key.into(), value.into()));
    }

    /// Leaf columns in schema order, as dotted paths.
    pub fn column_paths(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.path.join(".")).collect()
    }

    /// Appends one entry to leaf column `col` (index in [`Self::column_paths`] order).
    /// A value is written only when `def` equals the column's maximum definition level.
    pub fn push(&mut self, col: usize, rep: u8, def: u8, v: Value<'_>) {
        let c = &mut self.columns[col];
        if c.max_rep > 0 {
            c.reps.push(rep);
        }
        if c.max_def > 0 {
            c.defs.push(def);
        }
        if def == c.max_def {
            match (v, c.leaf) {
                (Value::Bytes(b), Leaf::Utf8 | Leaf::Bytes) => {
                    c.values.extend_from_slice(&(b.len() as u32).to_le_bytes());
                    c.values.extend_from_slice(b);
                }
                (Value::Int(i), Leaf::Int64) => c.values.extend_from_slice(&i.to_le_bytes()),
                // A type mismatch is a programming error of the exporter; write an empty value so the
                // file stays well-formed.
                (_, Leaf::Int64) => c.values.extend_from_slice(&0i64.to_le_bytes()),
                (_, _) => c.values.extend_from_slice(&0u32.to_le_bytes()),
            }
        }
    }

    /// Marks the end of a row (for row counts).
    pub fn end_row(&mut self) {
        self.rows_in_group += 1;
    }

    /// Writes the buffered rows as a row group.
    ///
    /// # Errors
    /// I/O errors.
    pub fn finish_row_group(&mut self) -> std::io::Result<()> {
        if self.rows_in_group == 0 {
            return Ok(());
        }
        let mut chunks = Vec::new();
        let mut total = 0i64;
        for c in &mut self.columns {
            let n_values = if c.max_def > 0 {
                c.defs.len()
            } else if c.max_rep > 0 {
                c.reps.len()
            } else {
                count_plain(c)
            };
            let mut body = Vec::new();
            if c.max_rep > 0 {
                levels(&mut body, &c.reps);
            }
            if c.max_def > 0 {
                levels(&mut body, &c.defs);
            }
            body.extend_from_slice(&c.values);
            let mut header = Thrift::default();
            header.i32(1, 0); // DATA_PAGE
            header.i32(2, body.len() as i32);
            header.i32(3, body.len() as i32);
            header.begin_struct(5);
            header.i32(1, n_values as i32);
            header.i32(2, 0); // PLAIN
            header.i32(3, 3); // RLE
            header.i32(4, 3); // RLE
            header.end_struct();
            header.stop();
            let page_offset = self.offset;
            self.out.write_all(&header.buf)?;
            self.out.write_all(&body)?;
            let size = (header.buf.len() + body.len()) as i64;
            self.offset += size as u64;
            total += size;
            let mut cc = Thrift::default();
            cc.i64(2, page_offset as i64);
            cc.begin_struct(3);
            cc.i32(
                1,
                match c.leaf {
                    Leaf::Int64 => 2,
                    _ => 6,
                },
            );
            cc.list_i32(2, &[0, 3]);
            cc.list_str(3, &c.path);
            cc.i32(4, 0);
            cc.i64(5, n_values as i64);
            cc.i64(6, size);
            cc.i64(7, size);
            cc.i64(9, page_offset as i64);
            cc.end_struct();
            cc.stop();
            chunks.push(cc.buf);
            c.reps.clear();
            c.defs.clear();
            c.values.clear();
        }
        let mut rg = Thrift::default();
        rg.list_structs(1, &chunks);
        rg.i64(2, total);
        rg.i64(3, self.rows_in_group);
        rg.stop();
        self.row_groups.push(rg.buf);
        self.total_rows += self.rows_in_group;
        self.rows_in_group = 0;
        Ok(())
    }

    /// Writes the footer and returns the inner writer.
    ///
    /// # Errors
    /// I/O errors.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.finish_row_group()?;
        let mut elems = Vec::new();
        let mut root = Thrift::default();
        root.string(4, "schema");
        root.i32(5, self.schema.len() as i32);
        root.stop();
        elems.push(root.buf);
        for n in &self.schema {
            schema_elements(n, &mut elems);
        }
        let mut fm = Thrift::default();
        fm.i32(1, 1);
        fm.list_structs(2, &elems);
        fm.i64(3, self.total_rows);
        fm.list_structs(4, &self.row_groups);
        if !self.metadata.is_empty() {
            let kvs: Vec<Vec<u8>> = self
                .metadata
                .iter()
                .map(|(k, v)| {
                    let mut t = Thrift::default();
                    t.string(1, k);
                    t.string(2, v);
                    t.stop();
                    t.buf
                })
                .collect();
            fm.list_structs(5, &kvs);
        }
        fm.string(6, concat!("medvlm ", env!("CARGO_PKG_VERSION")));
        fm.stop();
        self.out.write_all(&fm.buf)?;
        self.out.write_all(&(fm.buf.len() as u32).to_le_bytes())?;
        self.out.write_all(b"PAR1")?;
        self.out.flush()?;
        Ok(self.out)
    }
}

fn count_plain(c: &Column) -> usize {
    match c.leaf {
        Leaf::Int64 => c.values.len() / 8,
        _ => {
            let (mut n, mut i) = (0, 0);
            while i + 4 <= c.values.len() {
                let len = u32::from_le_bytes([c.values[i], c.values[i + 1], c.values[i + 2], c.values[i + 3]]) as usize;
                i += 4 + len;
                n += 1;
            }
            n
        }
    }
}

fn schema_elements(n: &Node, out: &mut Vec<Vec<u8>>) {
    let mut t = Thrift::default();
    match n {
        Node::Leaf(name, rep, leaf) => {
            t.i32(1, if *leaf == Leaf::Int64 { 2 } else { 6 });
            t.i32(3, rep_code(*rep));
            t.string(4, name);
            if *leaf == Leaf::Utf8 {
                t.i32(6, 0);
            }
            t.stop();
            out.push(t.buf);
        }
        Node::Group(name, rep, list, children) => {
            t.i32(3, rep_code(*rep));
            t.string(4, name);
            t.i32(5, children.len() as i32);
            if *list {
                t.i32(6, 3);
            }
            t.stop();
            out.push(t.buf);
            for c in children {
                schema_elements(c, out);
            }
        }
    }
}

fn rep_code(r: Rep) -> i32 {
    match r {
        Rep::Required => 0,
        Rep::Optional => 1,
        Rep::Repeated => 2,
    }
}

/// RLE runs (bit width 1 byte-padded), prefixed with their byte length (data page v1).
fn levels(out: &mut Vec<u8>, levels: &[u8]) {
    let mut enc = Vec::new();
    let mut i = 0;
    while i < levels.len() {
        let v = levels[i];
        let mut j = i;
        while j < levels.len() && levels[j] == v {
            j += 1;
        }
        varint(&mut enc, ((j - i) as u64) << 1);
        enc.push(v);
        i = j;
    }
    out.extend_from_slice(&(enc.len() as u32).to_le_bytes());
    out.extend_from_slice(&enc);
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Thrift compact protocol, just what the footer and page headers need.
#[derive(Default)]
struct Thrift {
    buf: Vec<u8>,
    last: Vec<i16>,
    cur: i16,
}

impl Thrift {
    fn field(&mut self, id: i16, ty: u8) {
        let delta = id - self.cur;
        if (1..=15).contains(&delta) {
            self.buf.push(((delta as u8) << 4) | ty);
        } else {
            self.buf.push(ty);
            varint(&mut self.buf, zigzag(i64::from(id)));
        }
        self.cur = id;
    }
    fn i32(&mut self, id: i16, v: i32) {
        self.field(id, 5);
        varint(&mut self.buf, zigzag(i64::from(v)));
    }
    fn i64(&mut self, id: i16, v: i64) {
        self.field(id, 6);
        varint(&mut self.buf, zigzag(v));
    }
    fn string(&mut self, id: i16, s: &str) {
        self.field(id, 8);
        varint(&mut self.buf, s.len() as u64);
        self.buf.extend_from_slice(s.as_bytes());
    }
    fn list_header(&mut self, id: i16, n: usize, elem: u8) {
        self.field(id, 9);
        if n < 15 {
            self.buf.push(((n as u8) << 4) | elem);
        } else {
            self.buf.push(0xF0 | elem);
            varint(&mut self.buf, n as u64);
        }
    }
    fn list_i32(&mut self, id: i16, v: &[i32]) {
        self.list_header(id, v.len(), 5);
        for x in v {
            varint(&mut self.buf, zigzag(i64::from(*x)));
        }
    }
    fn list_str(&mut self, id: i16, v: &[String]) {
        self.list_header(id, v.len(), 8);
        for s in v {
            varint(&mut self.buf, s.len() as u64);
            self.buf.extend_from_slice(s.as_bytes());
        }
    }
    /// A list of already-encoded structs (each ending with its stop byte).
    fn list_structs(&mut self, id: i16, items: &[Vec<u8>]) {
        self.list_header(id, items.len(), 12);
        for s in items {
            self.buf.extend_from_slice(s);
        }
    }
    fn begin_struct(&mut self, id: i16) {
        self.field(id, 12);
        self.last.push(self.cur);
        self.cur = 0;
    }
    fn end_struct(&mut self) {
        self.buf.push(0);
        self.cur = self.last.pop().unwrap_or(0);
    }
    fn stop(&mut self) {
        self.buf.push(0);
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}
