"""The text-to-image page's walkthrough (the lecture's steps), its explore views, choices and fixed notes: pure data."""
from core.lessons import Step, View

INTRO = (
    "Type a sentence, get a picture: the same parts as Stable Diffusion (a frozen text encoder, a U-Net whose "
    "cross-attention reads the text, a noise scheduler, classifier-free guidance and an autoencoder whose latent "
    "space the diffusion runs in), small enough to train on a laptop CPU. **GenLab mini** was trained here on "
    "32x32 pictures of circles, squares and triangles with captions such as *a small red circle in the top left*; "
    "some combinations (a green triangle, a blue circle, a yellow square) it has never seen. Where a real Stable "
    "Diffusion checkpoint is available, the same controls drive it."
)

STEPS = [
    Step("Text-to-image as translation",
         r"p_\theta(\mathbf x\mid y)\quad y=\text{``a small red circle in the top left''}",
         "A conditional generative model: the caption $y$ is the source sentence, the image $\\mathbf x$ the "
         "translation. Unlike a translation there are many right answers, so we sample: every seed is another "
         "image that fits the same words.", "generate"),
    Step("The text encoder",
         r"\mathbf c=\tau(y)\in\mathbb R^{L\times 384},\quad L=32\ \text{tokens}",
         "A pretrained sentence-transformer (all-MiniLM-L6-v2, a 6-layer BERT) turns the prompt into one vector per "
         "token. It stays frozen, as CLIP does in Stable Diffusion: it already knows that a *sphere* is like a "
         "*ball*, so a word the captions never used still steers the image when the encoder places it near one "
         "they did. Where it does not (*quadrilateral* lands nowhere near *square*), the U-Net has nothing to go "
         "on: the encoder's knowledge is all the model has of words it was not shown.", "encoder"),
    Step("Cross-attention conditioning",
         r"\mathrm{Attn}(Q,K,V)=\mathrm{softmax}\Big(\tfrac{QK^\top}{\sqrt d}\Big)V,\ Q=W_Q\,\varphi(\mathbf z_t),\ K=W_K\mathbf c,\ V=W_V\mathbf c",
         "Inside the U-Net every latent position asks (query) which tokens concern it (keys) and takes in their "
         "content (values). That is how *top left* and *red* reach the right place. Watch the predicted clean "
         "image $\\hat{\\mathbf x}_0$ form step by step: layout first, colours and edges later.", "preview"),
    Step("Classifier-free guidance",
         r"\hat{\boldsymbol\epsilon}=\boldsymbol\epsilon_\theta(\mathbf z_t,\varnothing)+s\,\big(\boldsymbol\epsilon_\theta(\mathbf z_t,\mathbf c)-\boldsymbol\epsilon_\theta(\mathbf z_t,\varnothing)\big)",
         "During training the caption was replaced by the empty prompt 10 % of the time, so one network predicts "
         "the noise with and without the text. At sampling time their difference is the direction the text pushes "
         "in; $s=0$ ignores the prompt, $s=1$ is the plain conditional model, $s>1$ pushes further. A negative "
         "prompt takes the place of $\\varnothing$.", "guidance"),
    Step("Latent diffusion",
         r"\mathbf z_0=\mathcal E(\mathbf x),\ \ \mathbf z_t=\sqrt{\bar\alpha_t}\,\mathbf z_0+\sqrt{1-\bar\alpha_t}\,\boldsymbol\epsilon,\ \ \mathbf x=\mathcal D(\mathbf z_0)",
         "The diffusion runs on an autoencoder's compressed code, not on pixels: 8x8x8 numbers instead of 3x32x32, "
         "six times fewer (Stable Diffusion: 4x64x64 for 3x512x512, 48 times fewer; squares this small needed twice "
         "Stable Diffusion's 4 channels to keep their corners). The U-Net does all its steps there, the decoder runs "
         "once.",
         "latent"),
    Step("Diversity against fidelity",
         r"s\uparrow\ \Rightarrow\ \text{fidelity}\uparrow,\ \text{variety}\downarrow",
         "A judge that is not the model, and was never trained, reads each picture from its pixels alone. It outlines "
         "each blob at half its contrast. A triangle keeps far less of its area in its upper half than in its lower "
         "half; a square fills the box of its widest row and tallest column, a circle only about $\\pi/4$ of it. The "
         "colour is the palette colour whose direction from the background is nearest the blob's; the size comes from "
         "the area, the place from the grid cell the blob sits in. Fidelity is the share of the asked-for attributes "
         "it finds; variety is how far apart the main shape's place, size and shade fall across the images of one "
         "prompt, in pixels. More guidance buys fidelity with variety, as Ho & Salimans measured with FID against "
         "Inception score.", "tradeoff"),
]

# explore mode: one view at a time; the page opens on the pictures, the guidance trade-off (five more sampling
# runs) waits for its own view. No section draws a control of its own: every control is at the top.
VIEWS = [View("Generate", ("generate",)),
         View("Text encoder", ("encoder",)),
         View("Denoising steps", ("preview",)),
         View("Guidance scale", ("guidance", "tradeoff")),
         View("Latent space", ("latent",))]

MODELS = {"mini": "GenLab mini (trained here)", "sd": "Stable Diffusion (local folder or hub id)"}
DEFAULT_PROMPT = "a large red circle in the top left"
DEFAULT_SD = "stable-diffusion-v1-5/stable-diffusion-v1-5"
SCALES = (0.0, 1.0, 2.0, 4.0, 7.0)

# ---- fixed notes (no visitor's text in any of them)
OPERATOR_HELP = ("Real Stable Diffusion needs its weights (several GB; a GPU makes it usable) in `models/`, in the "
                 "Hugging Face cache or in a folder listed in `GENLAB_SD_DIRS`; to let the server download a hub id "
                 "itself, start it with `GENLAB_ALLOW_SD_DOWNLOAD=1` and internet access.")
EMPTY_PROMPT = ("The prompt is empty, so these images are **unconditional**: the U-Net sees the empty prompt's token "
                "states in both branches and draws whatever the training images looked like.")
NOT_MINI = ("The judge only knows the shapes world GenLab mini was trained on (circles, squares and triangles on a "
            "dark background), so it measures GenLab mini only. The images at several scales are above.")
NO_SHAPE = ("This prompt names no shape the judge knows, so only variety is measured (fidelity is undefined). "
            "Try one such as *a big green square at the bottom*.")
FIDELITY = ("Fidelity: share of the attributes the prompt asks for (shape, colour, and size and position where named) "
            "that the judge finds in 8 images per scale with the seeds above; shape right: share of the asked shapes "
            "drawn as the right shape. Variety: how far apart the main shape's place, size and shade fall across "
            "those 8 images, in pixels. The judge has no weights: it outlines each blob at half its contrast and reads "
            "shape, colour, size and place from the outline. ")
MEASURED = ("**Measured on this model** ({settings}; `{command}`): the shapes reader finds the asked shape in "
            "**{grammar:.0f} %** of the pictures for prompts in the captions' words, **{held_out:.0f} %** for colours "
            "it never saw with that shape, and **{paraphrase:.0f} %** for paraphrases in words no caption uses. The "
            "frozen encoder carries a new word only as far as it places it near a caption's word: {good} work; "
            "{bad} do not.{why} Within one prompt the pictures still differ in what it leaves open: the main shape's "
            "place, size and shade spread **{default:.1f} px** apart at s = 4 (the training pictures: {data:.1f} px).")
SEEN = "read: {}"
WHY = (" The encoder itself says why (`--parts encoder`): among the captions' shape words it puts {lost}; the words "
       "drawn right land clearly nearer their own shape's words.")
UNKNOWN = ("Words no training caption used: {words}. The model was never shown what they look like: all it has of "
           "them is where the frozen text encoder puts them among the captions' words. Nearest caption words: {near}.")
